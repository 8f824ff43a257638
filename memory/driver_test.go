package memory_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

func mustNamespace(tb testing.TB, b *memory.Backend, name string) *memory.Namespace {
	tb.Helper()
	ns, err := b.Namespace(name)
	if err != nil {
		tb.Fatal(err)
	}
	return ns.(*memory.Namespace)
}

func ref(l backend.Lease) backend.LeaseRef { return backend.LeaseRef{TaskID: l.ID, Token: l.Token} }

// driver is a fresh backend on a fake clock and one of its namespaces.
type driver struct {
	clk *clock.Fake
	b   *memory.Backend
	ns  *memory.Namespace
	ctx context.Context
}

func newDriver(t *testing.T) *driver {
	t.Helper()
	clk := clock.NewFake(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
	b := memory.New(memory.WithClock(clk))
	t.Cleanup(func() { b.Close() })
	return &driver{clk: clk, b: b, ns: mustNamespace(t, b, "ns"), ctx: context.Background()}
}

func (d *driver) enqueue(t *testing.T, p backend.EnqueueParams, payloads ...string) []string {
	t.Helper()
	for _, s := range payloads {
		p.Tasks = append(p.Tasks, backend.Message{Key: s, Payload: []byte(s), MaxAttempts: 3})
	}
	ids, err := d.ns.Enqueue(d.ctx, p)
	if err != nil {
		t.Fatalf("enqueue %q: %v", payloads, err)
	}
	return ids
}

func (d *driver) dequeue(t *testing.T, count int, lease time.Duration, queues ...string) backend.DequeueResult {
	t.Helper()
	res, err := d.ns.Dequeue(d.ctx, backend.DequeueParams{Queues: queues, Count: count, Lease: lease})
	if err != nil {
		t.Fatalf("dequeue: %v", err)
	}
	return res
}

func (d *driver) stats(t *testing.T) backend.Stats {
	t.Helper()
	st, err := d.ns.Stats(d.ctx, backend.StatsParams{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestHandles(t *testing.T) {
	d := newDriver(t)
	if d.b.Clock() != clock.Clock(d.clk) {
		t.Fatal("Clock does not return the backend's clock")
	}
	if again := mustNamespace(t, d.b, "ns"); again != d.ns {
		t.Fatal("a second Namespace call with the same name gave another handle")
	}
	if _, err := d.b.Namespace(""); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("Namespace(\"\"): %v, want ErrInvalid", err)
	}
	d.b.Close()
	if _, err := d.b.Namespace("ns"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Namespace after Close: %v, want ErrClosed", err)
	}
	if err := d.b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Next tells when the earliest delayed task is due or lease deadline passes, on
// the backend's clock, rounded up to at least a millisecond.
func TestDequeueNext(t *testing.T) {
	d := newDriver(t)
	if res := d.dequeue(t, 1, time.Minute, "q"); len(res.Leases) != 0 || res.Next != 0 {
		t.Fatalf("empty namespace: %+v, want no leases and Next 0", res)
	}
	d.enqueue(t, backend.EnqueueParams{Queue: "q", Delay: 5 * time.Second}, "later")
	if res := d.dequeue(t, 1, time.Minute, "q"); len(res.Leases) != 0 || res.Next != 5*time.Second {
		t.Fatalf("one task delayed 5s: %+v, want no leases and Next 5s", res)
	}
	d.enqueue(t, backend.EnqueueParams{Queue: "other"}, "now")
	if res := d.dequeue(t, 1, 2*time.Second, "other"); len(res.Leases) != 1 || res.Next != 2*time.Second {
		t.Fatalf("leased for 2s: %+v, want a lease and Next 2s", res)
	}
	d.clk.Advance(1500 * time.Millisecond)
	if res := d.dequeue(t, 1, time.Minute, "q"); res.Next != 500*time.Millisecond {
		t.Fatalf("500ms before the lease deadline: Next %v", res.Next)
	}
	d.clk.Advance(500*time.Millisecond - 300*time.Microsecond)
	if res := d.dequeue(t, 1, time.Minute, "q"); res.Next != time.Millisecond {
		t.Fatalf("300µs before the lease deadline: Next %v, want 1ms", res.Next)
	}
	d.clk.Advance(time.Millisecond)
	res := d.dequeue(t, 1, 10*time.Second, "other")
	if len(res.Leases) != 1 || res.Leases[0].Attempt != 1 || res.Next != 3*time.Second {
		t.Fatalf("after the lease deadline: %+v, want the task back with Attempt 1 and Next 3s (the delayed one)", res)
	}
	d.clk.Advance(3 * time.Second)
	if res := d.dequeue(t, 1, time.Minute, "q"); len(res.Leases) != 1 || string(res.Leases[0].Payload) != "later" {
		t.Fatalf("once due: %+v, want the delayed task", res)
	}
}

// recorder collects the signals of a Notify registration.
type recorder struct {
	mu    sync.Mutex
	wakes []backend.Wake
}

func (r *recorder) f(w backend.Wake) {
	r.mu.Lock()
	r.wakes = append(r.wakes, w)
	r.mu.Unlock()
}

// take returns the signals since the last call.
func (r *recorder) take() []backend.Wake {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.wakes
	r.wakes = nil
	return w
}

func (r *recorder) expect(t *testing.T, after string, want ...backend.Wake) {
	t.Helper()
	got := r.take()
	sortWakes := func(a, b backend.Wake) int {
		if a.Queue < b.Queue {
			return -1
		}
		if a.Queue > b.Queue {
			return 1
		}
		return a.Count - b.Count
	}
	slices.SortFunc(got, sortWakes)
	slices.SortFunc(want, sortWakes)
	if !slices.Equal(got, want) {
		t.Fatalf("after %s: signals %+v, want %+v", after, got, want)
	}
}

func TestNotify(t *testing.T) {
	d := newDriver(t)
	var r recorder
	stop, err := d.ns.Notify(d.ctx, r.f)
	if err != nil {
		t.Fatal(err)
	}
	q := func(name string, n int) backend.Wake { return backend.Wake{Queue: name, Count: n} }

	d.enqueue(t, backend.EnqueueParams{Queue: "a"}, "1", "2", "3")
	r.expect(t, "enqueue of 3", q("a", 3))
	d.enqueue(t, backend.EnqueueParams{Queue: "b", AtHead: true}, "4")
	r.expect(t, "enqueue at the head", q("b", 1))

	// Delayed tasks are announced when due, by the housekeeping that moves them.
	d.enqueue(t, backend.EnqueueParams{Queue: "a", Delay: 10 * time.Second}, "d10")
	r.expect(t, "a delayed enqueue nobody waits for")
	d.dequeue(t, 1, time.Minute, "empty") // a waiter learns Next = 10s
	d.enqueue(t, backend.EnqueueParams{Queue: "a", Delay: 20 * time.Second}, "d20")
	r.expect(t, "a delayed enqueue later than the earliest")
	d.enqueue(t, backend.EnqueueParams{Queue: "a", Delay: 5 * time.Second}, "d5")
	r.expect(t, "a delayed enqueue earlier than the earliest", backend.Wake{})
	d.enqueue(t, backend.EnqueueParams{Queue: "a", Delay: 2 * time.Second}, "d2")
	r.expect(t, "an earlier one again, with no Dequeue since the last Wake{}")
	d.clk.Advance(6 * time.Second)
	d.dequeue(t, 1, time.Minute, "b") // housekeeping moves d2 and d5 to "a"
	r.expect(t, "housekeeping moved 2 due tasks", q("a", 2))

	// A Dequeue announces what it did not take itself.
	d.enqueue(t, backend.EnqueueParams{Queue: "c", Delay: time.Second}, "c1", "c2")
	d.clk.Advance(time.Second)
	d.dequeue(t, 1, time.Minute, "c")
	r.expect(t, "a dequeue took 1 of 2 due tasks", q("c", 1))
	d.dequeue(t, 1, time.Minute, "c")
	r.expect(t, "a dequeue took the last one")

	// Releases, reclaims and RequeueDead.
	d.enqueue(t, backend.EnqueueParams{Queue: "r"}, "x", "y", "z")
	r.take()
	ls := d.dequeue(t, 3, time.Second, "r").Leases
	res, err := d.ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{
		{LeaseRef: ref(ls[0]), Action: backend.Release},
		{LeaseRef: ref(ls[1]), Action: backend.Release, ToTail: true},
		{LeaseRef: ref(ls[2]), Action: backend.Release, Delay: time.Hour},
	}})
	if err != nil || !slices.Equal(res, []backend.SettleResult{backend.SettleDone, backend.SettleDone, backend.SettleDone}) {
		t.Fatalf("settle: %v %v", res, err)
	}
	r.expect(t, "two releases without delay, one with", q("r", 2))
	if n := len(d.dequeue(t, 2, time.Second, "r").Leases); n != 2 {
		t.Fatalf("dequeued %d of the 2 released tasks", n)
	}
	r.take()
	d.clk.Advance(time.Second)
	if n, err := d.ns.Reclaim(d.ctx); n != 2 || err != nil {
		t.Fatalf("reclaim: %d %v, want 2", n, err)
	}
	r.expect(t, "2 leases reclaimed", q("r", 2))
	ls = d.dequeue(t, 1, time.Minute, "r").Leases
	if res, _ := d.ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(ls[0]), Action: backend.DeadLetter}}}); res[0] != backend.SettleDone {
		t.Fatalf("dead-letter: %v", res)
	}
	r.take()
	if n, err := d.ns.RequeueDead(d.ctx, backend.DeadActionParams{All: true}); n != 1 || err != nil {
		t.Fatalf("requeue dead: %d %v", n, err)
	}
	r.expect(t, "a dead task requeued", q("r", 1))

	// An earlier lease deadline wakes waiters that sleep towards a later event.
	d.dequeue(t, 1, time.Minute, "empty") // Next: the delayed release, an hour away
	d.enqueue(t, backend.EnqueueParams{Queue: "e"}, "e")
	r.take()
	d.dequeue(t, 1, time.Second, "e")
	r.expect(t, "a lease deadline earlier than any event", backend.Wake{})

	// After stop, nothing; a second stop is harmless.
	var r2 recorder
	stop2, err := d.ns.Notify(d.ctx, r2.f)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop()
	d.enqueue(t, backend.EnqueueParams{Queue: "a"}, "after stop")
	r.expect(t, "stop")
	r2.expect(t, "an enqueue", q("a", 1))
	if n := d.b.Listening(); n != 1 {
		t.Fatalf("%d registrations after one stop of two, want 1", n)
	}

	// Close wakes every registration once, and Notify fails afterwards.
	d.b.Close()
	r2.expect(t, "Close", backend.Wake{})
	stop2()
	if _, err := d.ns.Notify(d.ctx, r.f); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Notify after Close: %v, want ErrClosed", err)
	}
	r.expect(t, "Close, for a stopped registration")
}

// One Settle acks, releases, dead-letters and finds lost leases, each item on its
// own.
func TestSettleMixed(t *testing.T) {
	d := newDriver(t)
	ids, err := d.ns.Enqueue(d.ctx, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: time.Hour, Tasks: []backend.Message{
		{Key: "ack", Payload: []byte("ack"), MaxAttempts: 3},
		{Key: "release", Payload: []byte("release"), MaxAttempts: 3},
		{Key: "last", Payload: []byte("last"), MaxAttempts: 1},
		{Key: "dead", Payload: []byte("dead"), MaxAttempts: 3},
		{Key: "expired", Payload: []byte("expired"), MaxAttempts: 3},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ls := d.dequeue(t, 4, time.Minute, "q").Leases
	late := d.dequeue(t, 1, time.Second, "q").Leases
	d.clk.Advance(time.Second) // late[0]'s lease ends
	answer := &backend.Answer{Value: []byte("42"), OK: true, TTL: time.Minute}
	res, err := d.ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{
		{LeaseRef: ref(ls[0]), Action: backend.Ack, Answer: answer},
		{LeaseRef: ref(ls[1]), Action: backend.Release, ToTail: true, Error: "again"},
		{LeaseRef: ref(ls[2]), Action: backend.Release, Error: "no more"},
		{LeaseRef: ref(ls[3]), Action: backend.DeadLetter, Error: "poison"},
		{LeaseRef: ref(late[0]), Action: backend.Ack},
		{LeaseRef: ref(ls[0]), Action: backend.Ack},                                             // settled above
		{LeaseRef: backend.LeaseRef{TaskID: ls[1].ID, Token: ls[0].Token}, Action: backend.Ack}, // mismatched
	}})
	want := []backend.SettleResult{backend.SettleDone, backend.SettleDone, backend.SettleDead, backend.SettleDone,
		backend.SettleLost, backend.SettleLost, backend.SettleLost}
	if err != nil || !slices.Equal(res, want) {
		t.Fatalf("settle: %v %v, want %v", res, err, want)
	}
	a, err := d.ns.GetAnswer(d.ctx, backend.GetAnswerParams{Key: "ack"})
	if err != nil || string(a.Value) != "42" {
		t.Fatalf("answer of the ack: %+v %v", a, err)
	}
	dead, err := d.ns.Dead(d.ctx, backend.DeadParams{Count: 10})
	if err != nil || len(dead) != 2 || dead[0].Key != "last" || dead[0].Reason != "no more" || dead[1].Key != "dead" || dead[1].Reason != "poison" || dead[1].Attempt != 0 {
		t.Fatalf("dead list: %+v %v", dead, err)
	}
	st := d.stats(t)
	wantQ := backend.QueueStats{Waiting: 2, Dead: 2} // the release, and the reclaimed late one
	wantC := backend.Counters{Enqueued: 5, Delivered: 5, Acked: 1, Released: 3, Reclaimed: 1, Dead: 2}
	if st.Queues["q"] != wantQ || st.Counters != wantC {
		t.Fatalf("stats %+v, want %+v and %+v", st, wantQ, wantC)
	}
	for i, want := range []backend.JobStatus{backend.StatusFinished, backend.StatusPending, backend.StatusDead, backend.StatusDead, backend.StatusPending} {
		if j, err := d.ns.Job(d.ctx, backend.JobParams{ID: ids[i]}); err != nil || j.Status != want {
			t.Errorf("job %d: %+v %v, want status %s", i, j, err, want)
		}
	}
}

// Extend moves the live leases of a batch and leaves a lost one alone.
func TestExtendBatch(t *testing.T) {
	d := newDriver(t)
	d.enqueue(t, backend.EnqueueParams{Queue: "q"}, "a", "b", "c")
	ls := d.dequeue(t, 3, time.Minute, "q").Leases
	if res, _ := d.ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(ls[1]), Action: backend.Ack}}}); res[0] != backend.SettleDone {
		t.Fatalf("ack: %v", res)
	}
	d.clk.Advance(time.Second)
	now := d.clk.Now()
	got, err := d.ns.Extend(d.ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(ls[0]), ref(ls[1]), ref(ls[2])}, Lease: time.Hour})
	want := []time.Time{now.Add(time.Hour), {}, now.Add(time.Hour)}
	if err != nil || !slices.EqualFunc(got, want, func(r backend.ExtendResult, t time.Time) bool { return !r.Cancelled && r.Deadline.Equal(t) }) {
		t.Fatalf("extend: %v %v, want %v", got, err, want)
	}
	leases, err := d.ns.Leases(d.ctx, backend.LeasesParams{Count: 10})
	if err != nil || len(leases) != 2 || !leases[0].Deadline.Equal(want[0]) || !leases[1].Deadline.Equal(want[2]) {
		t.Fatalf("leases after extend: %+v %v", leases, err)
	}
}

// snapshot is what a namespace shows, to tell that a call changed nothing.
func (d *driver) snapshot(t *testing.T) any {
	t.Helper()
	st := d.stats(t)
	peek, err := d.ns.Peek(d.ctx, backend.PeekParams{Queue: "q", Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := d.ns.Leases(d.ctx, backend.LeasesParams{Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := d.ns.Dead(d.ctx, backend.DeadParams{Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	delayed, err := d.ns.Delayed(d.ctx, backend.DelayedParams{Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	a, err := d.ns.GetAnswer(d.ctx, backend.GetAnswerParams{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return []any{st, peek, leases, dead, delayed, a}
}

// Every method refuses bad input with ErrInvalid, changing nothing, and a done
// context with its error; after Close every one fails with ErrClosed.
func TestBadInput(t *testing.T) {
	d := newDriver(t)
	d.enqueue(t, backend.EnqueueParams{Queue: "q"}, "a", "b")
	l := d.dequeue(t, 1, time.Minute, "q").Leases[0]
	d.enqueue(t, backend.EnqueueParams{Queue: "q", Delay: time.Hour}, "c")
	if err := d.ns.SetAnswer(d.ctx, backend.SetAnswerParams{Key: "k", Answer: backend.Answer{Value: []byte("v"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(d.dequeue(t, 1, time.Minute, "q").Leases[0]), Action: backend.DeadLetter}}}); err != nil {
		t.Fatal(err)
	}
	ns := d.ns
	msg := []backend.Message{{Key: "k", MaxAttempts: 1}}
	lr := []backend.LeaseRef{ref(l)}
	ack := []backend.Settlement{{LeaseRef: ref(l), Action: backend.Ack}}
	noop := func(backend.Wake) {}
	// Each call with good input and the given ctx; each bad variant below.
	calls := map[string]func(ctx context.Context) error{
		"Enqueue": func(ctx context.Context) error {
			_, err := ns.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msg})
			return err
		},
		"Dequeue": func(ctx context.Context) error {
			_, err := ns.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Second})
			return err
		},
		"Settle": func(ctx context.Context) error {
			_, err := ns.Settle(ctx, backend.SettleParams{Items: ack})
			return err
		},
		"Extend": func(ctx context.Context) error {
			_, err := ns.Extend(ctx, backend.ExtendParams{Leases: lr, Lease: time.Second})
			return err
		},
		"SetAnswer": func(ctx context.Context) error {
			return ns.SetAnswer(ctx, backend.SetAnswerParams{Key: "x", Answer: backend.Answer{TTL: time.Second}})
		},
		"GetAnswer": func(ctx context.Context) error {
			_, err := ns.GetAnswer(ctx, backend.GetAnswerParams{Key: "k"})
			return err
		},
		"Stats": func(ctx context.Context) error { _, err := ns.Stats(ctx, backend.StatsParams{}); return err },
		"Job": func(ctx context.Context) error {
			if _, err := ns.Job(ctx, backend.JobParams{ID: "1"}); !errors.Is(err, backend.ErrNotFound) {
				return err
			}
			return nil
		},
		"Peek": func(ctx context.Context) error {
			_, err := ns.Peek(ctx, backend.PeekParams{Queue: "q", Count: 1})
			return err
		},
		"Leases":  func(ctx context.Context) error { _, err := ns.Leases(ctx, backend.LeasesParams{Count: 1}); return err },
		"Dead":    func(ctx context.Context) error { _, err := ns.Dead(ctx, backend.DeadParams{Count: 1}); return err },
		"Reclaim": func(ctx context.Context) error { _, err := ns.Reclaim(ctx); return err },
		"RequeueDead": func(ctx context.Context) error {
			_, err := ns.RequeueDead(ctx, backend.DeadActionParams{IDs: []string{"9"}})
			return err
		},
		"PurgeDead": func(ctx context.Context) error {
			_, err := ns.PurgeDead(ctx, backend.DeadActionParams{IDs: []string{"9"}})
			return err
		},
		"DeleteAnswer": func(ctx context.Context) error {
			err := ns.DeleteAnswer(ctx, backend.DeleteAnswerParams{Key: "x"})
			if errors.Is(err, backend.ErrNotFound) {
				return nil
			}
			return err
		},
		"Notify": func(ctx context.Context) error {
			stop, err := ns.Notify(ctx, noop)
			if err == nil {
				stop()
			}
			return err
		},
		"Allow": func(ctx context.Context) error {
			_, err := ns.Allow(ctx, backend.AllowParams{Name: "l", Interval: time.Second, Burst: 1})
			return err
		},
		"Namespaces": func(ctx context.Context) error { _, err := d.b.Namespaces(ctx); return err },
		"Delayed": func(ctx context.Context) error {
			_, err := ns.Delayed(ctx, backend.DelayedParams{Count: 1})
			return err
		},
		"Pause": func(ctx context.Context) error {
			return ns.Pause(ctx, backend.PauseParams{Queues: []string{"other"}})
		},
		"Cancel": func(ctx context.Context) error {
			if _, err := ns.Cancel(ctx, backend.CancelParams{ID: "999"}); !errors.Is(err, backend.ErrNotFound) {
				return err
			}
			return nil
		},
	}
	bad := map[string]func() error{
		"Enqueue no queue": func() error { _, err := ns.Enqueue(d.ctx, backend.EnqueueParams{Tasks: msg}); return err },
		"Enqueue no tasks": func() error { _, err := ns.Enqueue(d.ctx, backend.EnqueueParams{Queue: "q"}); return err },
		"Enqueue MaxAttempts 0": func() error {
			_, err := ns.Enqueue(d.ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{{Key: "k"}}})
			return err
		},
		"Enqueue negative delay": func() error {
			_, err := ns.Enqueue(d.ctx, backend.EnqueueParams{Queue: "q", Tasks: msg, Delay: -1})
			return err
		},
		"Enqueue tracked no TTL": func() error {
			_, err := ns.Enqueue(d.ctx, backend.EnqueueParams{Queue: "q", Tasks: msg, TrackJobs: true})
			return err
		},
		"Dequeue zero lease": func() error {
			_, err := ns.Dequeue(d.ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1})
			return err
		},
		"Dequeue count 0": func() error {
			_, err := ns.Dequeue(d.ctx, backend.DequeueParams{Queues: []string{"q"}, Lease: time.Second})
			return err
		},
		"Dequeue no queues": func() error {
			_, err := ns.Dequeue(d.ctx, backend.DequeueParams{Count: 1, Lease: time.Second})
			return err
		},
		"Dequeue empty queue name": func() error {
			_, err := ns.Dequeue(d.ctx, backend.DequeueParams{Queues: []string{""}, Count: 1, Lease: time.Second})
			return err
		},
		"Settle empty": func() error { _, err := ns.Settle(d.ctx, backend.SettleParams{}); return err },
		"Settle action 0": func() error {
			_, err := ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l)}}})
			return err
		},
		"Settle unknown action": func() error {
			_, err := ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l), Action: 99}}})
			return err
		},
		"Settle ack with delay": func() error {
			_, err := ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l), Action: backend.Ack, Delay: time.Second}}})
			return err
		},
		"Settle good then no token": func() error {
			_, err := ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{ack[0], {LeaseRef: backend.LeaseRef{TaskID: l.ID}, Action: backend.Ack}}})
			return err
		},
		"Extend zero lease": func() error { _, err := ns.Extend(d.ctx, backend.ExtendParams{Leases: lr}); return err },
		"Extend no leases":  func() error { _, err := ns.Extend(d.ctx, backend.ExtendParams{Lease: time.Second}); return err },
		"SetAnswer no TTL":  func() error { return ns.SetAnswer(d.ctx, backend.SetAnswerParams{Key: "k"}) },
		"Job no ID":         func() error { _, err := ns.Job(d.ctx, backend.JobParams{}); return err },
		"Stats empty queue": func() error { _, err := ns.Stats(d.ctx, backend.StatsParams{Queues: []string{""}}); return err },
		"Peek count 0":      func() error { _, err := ns.Peek(d.ctx, backend.PeekParams{Queue: "q"}); return err },
		"Peek negative": func() error {
			_, err := ns.Peek(d.ctx, backend.PeekParams{Queue: "q", Offset: -1, Count: 1})
			return err
		},
		"Leases count 0":      func() error { _, err := ns.Leases(d.ctx, backend.LeasesParams{}); return err },
		"Dead count 0":        func() error { _, err := ns.Dead(d.ctx, backend.DeadParams{}); return err },
		"RequeueDead nothing": func() error { _, err := ns.RequeueDead(d.ctx, backend.DeadActionParams{}); return err },
		"PurgeDead nothing":   func() error { _, err := ns.PurgeDead(d.ctx, backend.DeadActionParams{}); return err },
		"Notify nil f":        func() error { _, err := ns.Notify(d.ctx, nil); return err },
		"Allow burst 0": func() error {
			_, err := ns.Allow(d.ctx, backend.AllowParams{Name: "l", Interval: time.Second})
			return err
		},
		"Allow zero interval": func() error { _, err := ns.Allow(d.ctx, backend.AllowParams{Name: "l", Burst: 1}); return err },
		"Delayed count 0":     func() error { _, err := ns.Delayed(d.ctx, backend.DelayedParams{}); return err },
		"Delayed negative": func() error {
			_, err := ns.Delayed(d.ctx, backend.DelayedParams{Offset: -1, Count: 1})
			return err
		},
		"Pause no queues":    func() error { return ns.Pause(d.ctx, backend.PauseParams{}) },
		"Resume empty queue": func() error { return ns.Pause(d.ctx, backend.PauseParams{Queues: []string{"q", ""}, Resume: true}) },
		"Pause empty queue":  func() error { return ns.Pause(d.ctx, backend.PauseParams{Queues: []string{"q", ""}}) },
		"Cancel no ID": func() error {
			_, err := ns.Cancel(d.ctx, backend.CancelParams{Running: true})
			return err
		},
	}
	canceled, cancel := context.WithCancel(d.ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(d.ctx, time.Now().Add(-time.Second))
	defer cancel2()

	before := d.snapshot(t)
	for name, call := range calls {
		if err := call(nil); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("%s(nil ctx): %v, want ErrInvalid", name, err)
		}
		if err := call(canceled); !errors.Is(err, context.Canceled) {
			t.Errorf("%s(canceled ctx): %v, want context.Canceled", name, err)
		}
		if err := call(expired); !errors.Is(err, backend.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s(expired ctx): %v, want ErrTimeout", name, err)
		}
	}
	for name, call := range bad {
		if err := call(); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if after := d.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("bad calls changed the namespace:\n before %+v\n after  %+v", before, after)
	}
	for name, call := range calls {
		if err := call(d.ctx); err != nil {
			t.Errorf("%s with good input: %v", name, err)
		}
	}
	d.b.Close()
	for name, call := range calls {
		if err := call(d.ctx); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// Inspection reports what housekeeping would find without doing it.
func TestInspectionOnlyReads(t *testing.T) {
	d := newDriver(t)
	d.enqueue(t, backend.EnqueueParams{Queue: "q", Delay: time.Second}, "delayed")
	d.enqueue(t, backend.EnqueueParams{Queue: "q"}, "leased")
	d.dequeue(t, 1, time.Second, "q")
	want := backend.QueueStats{Delayed: 1, Leased: 1}
	if st := d.stats(t); st.Queues["q"] != want {
		t.Fatalf("before the due time: %+v, want %+v", st.Queues["q"], want)
	}
	d.clk.Advance(time.Second)
	for range 2 { // the second time shows that the first moved nothing
		st := d.stats(t)
		if want := (backend.QueueStats{Waiting: 2}); st.Queues["q"] != want || st.Counters.Reclaimed != 0 {
			t.Fatalf("once due and expired: %+v, want %+v and nothing reclaimed", st, want)
		}
		if peek, err := d.ns.Peek(d.ctx, backend.PeekParams{Queue: "q", Count: 10}); err != nil || len(peek) != 0 {
			t.Fatalf("peek: %+v %v, want the queue as it stands, empty", peek, err)
		}
		if leases, err := d.ns.Leases(d.ctx, backend.LeasesParams{Count: 10}); err != nil || len(leases) != 0 {
			t.Fatalf("leases: %+v %v, want no live lease", leases, err)
		}
	}
	res := d.dequeue(t, 10, time.Minute, "q")
	if len(res.Leases) != 2 || d.stats(t).Counters.Reclaimed != 1 {
		t.Fatalf("dequeue after: %+v, want both tasks and one reclaim", res)
	}
}

// Producers and consumers at once, with signals, under the race detector: every
// task is delivered and acked once.
func TestConcurrentCycle(t *testing.T) {
	d := newDriver(t)
	const producers, consumers, each = 3, 3, 200
	signal := make(chan struct{}, 1)
	stop, err := d.ns.Notify(d.ctx, func(backend.Wake) {
		select {
		case signal <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for range each {
				if _, err := d.ns.Enqueue(d.ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{{Key: "k", MaxAttempts: 1}}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	acked := make(chan int, consumers)
	for range consumers {
		wg.Go(func() {
			n := 0
			defer func() { acked <- n }()
			for {
				res, err := d.ns.Dequeue(d.ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 7, Lease: time.Hour})
				if err != nil {
					t.Error(err)
					return
				}
				if len(res.Leases) == 0 {
					select {
					case <-signal:
						continue
					case <-time.After(100 * time.Millisecond): // no signal: are the producers done?
						st, err := d.ns.Stats(d.ctx, backend.StatsParams{})
						if err != nil {
							t.Error(err)
							return
						}
						if st.Counters.Enqueued == producers*each && st.Queues["q"].Waiting == 0 {
							return
						}
						continue
					}
				}
				items := make([]backend.Settlement, len(res.Leases))
				for i, l := range res.Leases {
					items[i] = backend.Settlement{LeaseRef: ref(l), Action: backend.Ack}
				}
				rs, err := d.ns.Settle(d.ctx, backend.SettleParams{Items: items})
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range rs {
					if r != backend.SettleDone {
						t.Errorf("ack: %v", r)
					}
				}
				n += len(rs)
			}
		})
	}
	wg.Wait()
	close(acked)
	total := 0
	for n := range acked {
		total += n
	}
	if st := d.stats(t); total != producers*each || st.Counters.Acked != producers*each {
		t.Fatalf("acked %d (counter %d) of %d tasks", total, st.Counters.Acked, producers*each)
	}
}
