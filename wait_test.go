package keyq

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

// waitBound bounds every wait of these tests; it only catches a hang.
const waitBound = time.Minute

// fakeStore is a driver for the waiting tests: queues are counters of tasks, a
// Dequeue takes from the first non-empty queue on, and nothing sends a Wake but
// the test, through the f its Notify got. It records every Dequeue.
type fakeStore struct {
	clock *clock.Fake

	mu      sync.Mutex
	tasks   map[string]int
	next    time.Duration // the Next of an empty result
	tries   int           // Dequeue calls
	tried   chan struct{} // gets a value on every Dequeue call
	notify  func(backend.Wake)
	notifyN int   // Notify calls
	stops   int   // stop calls
	fail    error // when set, Notify returns it
	block   bool  // when set, Notify blocks until its ctx ends
	seq     int

	settled  []backend.SettleResult // what Settle answers
	extended []backend.ExtendResult // what Extend answers
}

func newFakeStore() *fakeStore {
	return &fakeStore{clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), tasks: map[string]int{}, tried: make(chan struct{}, 1000)}
}

// fakeNS is the store's namespace handle, with a Notifier; fakePlain without.
type fakeNS struct{ *fakeStore }
type fakePlain struct{ *fakeStore }
type fakeBackend struct {
	s        *fakeStore
	notifier bool
}

func (b fakeBackend) Namespace(string) (backend.Namespace, error) {
	if b.notifier {
		return fakeNS{b.s}, nil
	}
	return fakePlain{b.s}, nil
}
func (b fakeBackend) Close() error       { return nil }
func (b fakeBackend) Clock() clock.Clock { return b.s.clock }

func (s *fakeStore) add(q string, n int) {
	s.mu.Lock()
	s.tasks[q] += n
	s.mu.Unlock()
}

func (s *fakeStore) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	s.tried <- struct{}{}
	var res backend.DequeueResult
	for _, q := range p.Queues {
		for len(res.Leases) < p.Count && s.tasks[q] > 0 {
			s.tasks[q]--
			s.seq++
			id := strconv.Itoa(s.seq)
			res.Leases = append(res.Leases, backend.Lease{Task: backend.Task{ID: id, Queue: q}, Token: id})
		}
	}
	if len(res.Leases) == 0 {
		res.Next = s.next
	}
	return res, nil
}

func (s fakeNS) Notify(ctx context.Context, f func(backend.Wake)) (func(), error) {
	s.mu.Lock()
	s.notifyN++
	fail, block := s.fail, s.block
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if fail != nil {
		return nil, fail
	}
	s.mu.Lock()
	s.notify = f
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.stops++
		s.notify = nil
		s.mu.Unlock()
	}, nil
}

// wake sends k through the registered Notify callback.
func (s *fakeStore) wake(t *testing.T, k backend.Wake) {
	t.Helper()
	s.mu.Lock()
	f := s.notify
	s.mu.Unlock()
	if f == nil {
		t.Fatal("no Notify registration to wake through")
	}
	f(k)
}

func (s *fakeStore) Enqueue(context.Context, backend.EnqueueParams) ([]string, error) {
	return nil, errors.ErrUnsupported
}
func (s *fakeStore) Settle(context.Context, backend.SettleParams) ([]backend.SettleResult, error) {
	return s.settled, nil
}
func (s *fakeStore) Extend(context.Context, backend.ExtendParams) ([]backend.ExtendResult, error) {
	return s.extended, nil
}
func (s *fakeStore) SetAnswer(context.Context, backend.SetAnswerParams) error {
	return errors.ErrUnsupported
}
func (s *fakeStore) GetAnswer(context.Context, backend.GetAnswerParams) (backend.Answer, error) {
	return backend.Answer{}, errors.ErrUnsupported
}

// waitTries waits until the store has seen n Dequeue calls in all.
func (s *fakeStore) waitTries(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitBound)
	for {
		s.mu.Lock()
		got := s.tries
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-s.tried:
		case <-deadline:
			t.Fatalf("%d Dequeue calls within %v, want %d", got, waitBound, n)
		}
	}
}

func (s *fakeStore) count() (tries, notifies, stops int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries, s.notifyN, s.stops
}

// fakeClient returns a client of s whose Notify registration ends with the
// last waiter, without lingering.
func fakeClient(t *testing.T, s *fakeStore, notifier bool) *Client {
	t.Helper()
	c, err := New(fakeBackend{s, notifier}, "ns", Queues("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	c.waits.linger = 0
	return c
}

// waitWaiters waits until c has n waiters registered.
func waitWaiters(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		c.waits.mu.Lock()
		got := len(c.waits.regs)
		c.waits.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters after %v, want %d", got, waitBound, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// result is what one waiting Dequeue returned.
type result struct {
	leases []Lease
	err    error
}

// goDequeue starts a waiting Dequeue and returns where its result comes.
func goDequeue(ctx context.Context, c *Client, opts ...DequeueOption) <-chan result {
	ch := make(chan result, 1)
	go func() {
		ls, err := c.Dequeue(ctx, append([]DequeueOption{Wait(waitBound)}, opts...)...)
		ch <- result{ls, err}
	}()
	return ch
}

func recvResult(t *testing.T, ch <-chan result, what string) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitBound):
		t.Fatalf("%s did not return within %v", what, waitBound)
		return result{}
	}
}

// TestWakePolicy checks the wake-up policy on the waiters alone: Wake{q, n}
// wakes the longest-waiting waiters of q until their batch sizes cover n,
// skipping those of other queues and those already woken; Wake{} wakes every one.
func TestWakePolicy(t *testing.T) {
	var w waiters
	a := w.add([]string{"q"}, 1)
	b := w.add([]string{"other", "q"}, 2)
	c := w.add([]string{"q"}, 1)
	d := w.add([]string{"other"}, 1)
	woken := func() (got []string) {
		for i, r := range []*waitReg{a, b, c, d} {
			if len(r.c) > 0 {
				got = append(got, fmt.Sprint("abcd"[i:i+1], ":", <-r.c))
				r.c <- got[len(got)-1][2:] // put it back
			}
		}
		return got
	}
	w.wake(backend.Wake{Queue: "q", Count: 2})
	if got := woken(); !slices.Equal(got, []string{"a:q", "b:q"}) {
		t.Fatalf("Wake{q, 2} woke %v, want a (batch 1) and b (batch 2), which cover it", got)
	}
	w.wake(backend.Wake{Queue: "q", Count: 1})
	if got := woken(); !slices.Equal(got, []string{"a:q", "b:q", "c:q"}) {
		t.Fatalf("a second Wake{q, 1} left woken %v, want c woken too, not a again", got)
	}
	w.wake(backend.Wake{})
	if got := woken(); !slices.Equal(got, []string{"a:q", "b:q", "c:q", "d:"}) {
		t.Fatalf("Wake{} left woken %v, want every waiter", got)
	}
}

// TestWakePassedOnWhenLeaving checks that a waiter that leaves with a wake for a
// queue it did not act on passes it to another waiter of that queue.
func TestWakePassedOnWhenLeaving(t *testing.T) {
	var w waiters
	a := w.add([]string{"q"}, 1)
	b := w.add([]string{"q"}, 1)
	w.wake(backend.Wake{Queue: "q", Count: 1})
	if len(a.c) != 1 || len(b.c) != 0 {
		t.Fatal("Wake{q, 1} did not wake the longest-waiting waiter alone")
	}
	w.remove(a)
	if len(b.c) != 1 || <-b.c != "q" {
		t.Fatal("the wake of a waiter that left untried was not passed on")
	}
	w.remove(b) // nothing to pass on: b had taken it
}

// TestWaitWakesCoveringWaiters checks, through Dequeue, that a Wake for n tasks
// sends n waiters of batch 1 to the store, and each of them that leased a full
// batch one more (it passes the wake on), not every waiter; that Wake{} sends
// every one; and that the registration with the notifier is made once and
// stopped after the last waiter leaves.
func TestWaitWakesCoveringWaiters(t *testing.T) {
	s := newFakeStore()
	c := fakeClient(t, s, true)
	const k = 8
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := []<-chan result{goDequeue(ctx, c)}
	s.waitTries(t, 2) // a try, and another once the registration was made
	for i := 1; i < k; i++ {
		results = append(results, goDequeue(ctx, c))
		waitWaiters(t, c, i+1)
	}
	if tries, n, _ := s.count(); n != 1 || tries != 2 {
		t.Fatalf("%d Notify calls and %d tries for %d waiters, want 1 and 2: the later ones know the queues are empty", n, tries, k)
	}
	s.add("a", 2)
	s.wake(t, backend.Wake{Queue: "a", Count: 2})
	got := 0
	for got < 2 {
		select {
		case r := <-results[0]:
			results = results[1:]
			if len(r.leases) != 1 || r.err != nil {
				t.Fatalf("a woken waiter got %v, %v; want one lease", r.leases, r.err)
			}
			got++
		case <-time.After(waitBound):
			t.Fatal("the two longest-waiting waiters did not return")
		}
	}
	c.waits.mu.Lock()
	regs := len(c.waits.regs)
	c.waits.mu.Unlock()
	if regs != k-2 {
		t.Fatalf("%d waiters left after 2 returned, want %d", regs, k-2)
	}
	// 2 tries before, the 2 woken, and at most the 2 they passed the wake to.
	if tries, _, _ := s.count(); tries > 2+4 {
		t.Fatalf("%d Dequeue calls after waking 2 waiters, want at most %d", tries, 2+4)
	}
	tries, _, _ := s.count()
	s.wake(t, backend.Wake{})
	s.waitTries(t, tries+k-2) // every other waiter looks again
	cancel()
	for _, ch := range results {
		if r := recvResult(t, ch, "a cancelled waiter"); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("a cancelled waiter returned %v, want context.Canceled", r.err)
		}
	}
	if _, n, stops := s.count(); n != 1 || stops != 1 {
		t.Fatalf("%d Notify calls and %d stops, want one of each once every waiter left", n, stops)
	}
}

// TestWaitPassesOnAfterFullBatch checks that a waiter woken for a queue that then
// leases a full batch wakes another waiter of that queue: tasks may be left.
func TestWaitPassesOnAfterFullBatch(t *testing.T) {
	s := newFakeStore()
	c := fakeClient(t, s, true)
	first := goDequeue(context.Background(), c)
	s.waitTries(t, 2)
	second := goDequeue(context.Background(), c)
	waitWaiters(t, c, 2)
	s.add("b", 2)
	s.wake(t, backend.Wake{Queue: "b", Count: 1}) // fewer than there are
	for _, ch := range []<-chan result{first, second} {
		if r := recvResult(t, ch, "a waiter"); len(r.leases) != 1 || r.err != nil {
			t.Fatalf("a waiter got %v, %v; want one lease each", r.leases, r.err)
		}
	}
}

// TestWaitPollsWithoutNotifier checks that without a Notifier a waiter tries
// again every pollEvery, on the backend's clock, and gets a task that came
// without a Wake.
func TestWaitPollsWithoutNotifier(t *testing.T) {
	s := newFakeStore()
	c := fakeClient(t, s, false)
	ch := goDequeue(context.Background(), c)
	s.waitTries(t, 1)
	if err := s.clock.WaitTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.add("a", 1)
	s.clock.Advance(pollEvery)
	if r := recvResult(t, ch, "a polling waiter"); len(r.leases) != 1 || r.err != nil {
		t.Fatalf("a polling waiter got %v, %v; want the task", r.leases, r.err)
	}
}

// TestWaitNextOnBackendClock checks that a waiter looks again once the Next of
// its empty result has passed on the backend's clock: a delayed task came due.
func TestWaitNextOnBackendClock(t *testing.T) {
	s := newFakeStore()
	s.next = 10 * time.Second
	c := fakeClient(t, s, true)
	ch := goDequeue(context.Background(), c)
	s.waitTries(t, 2)
	if err := s.clock.WaitTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.add("a", 1)
	s.clock.Advance(s.next - time.Millisecond)
	select {
	case r := <-ch:
		t.Fatalf("the waiter returned %v, %v before Next had passed", r.leases, r.err)
	default:
	}
	s.clock.Advance(time.Millisecond)
	if r := recvResult(t, ch, "a waiter past Next"); len(r.leases) != 1 || r.err != nil {
		t.Fatalf("a waiter past Next got %v, %v; want the task", r.leases, r.err)
	}
}

// TestWaitNotifyFails checks that a wait whose Notify fails polls, and that the
// next wait tries Notify again.
func TestWaitNotifyFails(t *testing.T) {
	s := newFakeStore()
	s.fail = fmt.Errorf("%w: no subscription", backend.ErrUnavailable)
	c := fakeClient(t, s, true)
	ch := goDequeue(context.Background(), c)
	s.waitTries(t, 2) // the try after Notify failed
	if err := s.clock.WaitTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.add("a", 1)
	s.clock.Advance(pollEvery)
	if r := recvResult(t, ch, "a waiter whose Notify failed"); len(r.leases) != 1 || r.err != nil {
		t.Fatalf("got %v, %v; want the task, found by polling", r.leases, r.err)
	}
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	ch = goDequeue(context.Background(), c)
	s.waitTries(t, 5)
	if _, n, _ := s.count(); n != 2 {
		t.Fatalf("%d Notify calls, want a second one for the second wait", n)
	}
	s.add("a", 1)
	s.wake(t, backend.Wake{Queue: "a", Count: 1})
	if r := recvResult(t, ch, "the second waiter"); len(r.leases) != 1 || r.err != nil {
		t.Fatalf("got %v, %v; want the task", r.leases, r.err)
	}
}

// TestWaitNotifyHangs checks that a wait whose Notify does not return ends with
// its one try when the wait is over, and that Notify's ctx is then cancelled.
func TestWaitNotifyHangs(t *testing.T) {
	s := newFakeStore()
	s.block = true
	c := fakeClient(t, s, true)
	ls, err := c.Dequeue(context.Background(), Wait(50*time.Millisecond))
	if len(ls) != 0 || err != nil {
		t.Fatalf("Dequeue = %v, %v; want nothing, no error", ls, err)
	}
	if tries, n, _ := s.count(); tries != 1 || n != 1 {
		t.Fatalf("%d tries and %d Notify calls, want one of each", tries, n)
	}
	c.waits.mu.Lock()
	l := c.waits.listen
	c.waits.mu.Unlock()
	if l != nil {
		t.Fatal("the registration outlived the last waiter")
	}
}

// TestWaitKnownEmpty checks the empty marks: a wait on queues a try found empty
// while the registration was confirmed sleeps without a try; a wake for one of
// them, or Wake{}, sends the next wait to the store again; a try's Next bounds
// the mark on the backend's clock; and the registration outlives the last
// waiter by the linger, keeping the marks, then ends and forgets them.
func TestWaitKnownEmpty(t *testing.T) {
	s := newFakeStore()
	c := fakeClient(t, s, true)
	c.waits.linger = time.Hour // ended by hand below
	short := func() []Lease {
		t.Helper()
		ls, err := c.Dequeue(context.Background(), Wait(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	short() // a try, the registration, a try it covers: a and b marked
	// The registration runs on a goroutine of its own: on a busy machine the 1ms
	// wait can end before it is confirmed, and then the next wait makes the
	// covered try. Either way there were two tries and one registration.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if l := c.waits.current(); l != nil && l.confirmed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the registration was not confirmed within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	short()
	tries, n, _ := s.count()
	if tries != 2 || n != 1 {
		t.Fatalf("%d tries and %d Notify calls, want 2 and 1", tries, n)
	}
	for range 3 {
		short()
	}
	if got, _, _ := s.count(); got != tries {
		t.Fatalf("%d tries after three waits on queues known empty, want %d", got, tries)
	}
	s.add("b", 1)
	s.wake(t, backend.Wake{Queue: "b", Count: 1})
	if ls := short(); len(ls) != 1 {
		t.Fatalf("a wait after Wake{b} got %v, want the task", ls)
	}
	short() // found nothing: marked again
	s.wake(t, backend.Wake{Queue: "other", Count: 1})
	tries, _, _ = s.count()
	short()
	if got, _, _ := s.count(); got != tries {
		t.Fatalf("a wake for another queue cleared the marks: %d tries, want %d", got, tries)
	}
	s.wake(t, backend.Wake{})
	short()
	if got, _, _ := s.count(); got != tries+1 {
		t.Fatalf("%d tries after Wake{}, want %d", got, tries+1)
	}

	// A try's Next bounds its mark on the backend's clock.
	s.mu.Lock()
	s.next = 10 * time.Millisecond
	s.mu.Unlock()
	s.wake(t, backend.Wake{})
	short() // a try: marked until Next
	tries, _, _ = s.count()
	short()
	if got, _, _ := s.count(); got != tries {
		t.Fatalf("%d tries within the mark's Next, want %d", got, tries)
	}
	s.clock.Advance(10 * time.Millisecond)
	short()
	if got, _, _ := s.count(); got != tries+1 {
		t.Fatalf("%d tries once the mark's Next passed, want %d", got, tries+1)
	}

	// The registration lingers after the last waiter, then ends with its marks.
	c.waits.mu.Lock()
	l, idle, marks := c.waits.listen, c.waits.idle, len(c.waits.empty)
	c.waits.mu.Unlock()
	if l == nil || idle == nil || marks == 0 {
		t.Fatalf("after the last waiter left: registration %v, idle timer %v, %d marks; want all kept", l != nil, idle != nil, marks)
	}
	c.waits.stopIdle(l)
	c.waits.mu.Lock()
	l, marks = c.waits.listen, len(c.waits.empty)
	c.waits.mu.Unlock()
	if _, _, stops := s.count(); l != nil || marks != 0 || stops != 1 {
		t.Fatalf("after the linger: registration %v, %d marks, %d stops; want none, none, 1", l != nil, marks, stops)
	}
	// A wait now makes its first try, then the try its new registration covers:
	// two. The registration is confirmed on a goroutine of its own, which a busy
	// machine may start after a short wait has ended, so the wait lasts until the
	// two tries were made. Marks still trusted would skip the first: one.
	tries, _, _ = s.count()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Dequeue(ctx, Wait(time.Minute))
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if got, _, _ := s.count(); got >= tries+2 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			got, _, _ := s.count()
			t.Fatalf("%d tries in 10s after the registration ended, want at least %d: marks are only trusted while heard", got, tries+2)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

// TestWakeCancelledWakesNoWaiter (S12.4): Wake{Cancelled: id} is for the
// workers running task id; it announces no task, so no waiter wakes.
func TestWakeCancelledWakesNoWaiter(t *testing.T) {
	var w waiters
	a := w.add([]string{"q"}, 1)
	b := w.add([]string{"other"}, 1)
	w.wake(backend.Wake{Cancelled: "7"})
	if len(a.c)+len(b.c) != 0 {
		t.Fatal("Wake{Cancelled} woke a waiter")
	}
	w.wake(backend.Wake{})
	if len(a.c)+len(b.c) != 2 {
		t.Fatal("Wake{} after Wake{Cancelled} did not wake every waiter")
	}
}

// TestWaitEventIn checks Wake{In}: a waiter sleeping without a timer does not
// try at once but In later, on the backend's clock; one whose timer ends sooner
// keeps it; and queues known empty stay so until In has passed.
func TestWaitEventIn(t *testing.T) {
	s := newFakeStore()
	c := fakeClient(t, s, true)
	c.waits.linger = time.Hour
	ch := goDequeue(context.Background(), c)
	s.waitTries(t, 2) // a try, and one covered by the registration
	if err := s.clock.WaitTimers(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	s.wake(t, backend.Wake{In: 10 * time.Millisecond})
	if err := s.clock.WaitTimers(context.Background(), 1); err != nil { // the waiter's timer for In
		t.Fatal(err)
	}
	if tries, _, _ := s.count(); tries != 2 {
		t.Fatalf("%d tries right after Wake{In}, want 2: the waiter should wait for In", tries)
	}
	// A known-empty wait in the meantime sleeps too.
	if ls, err := c.Dequeue(context.Background(), Wait(time.Millisecond)); len(ls) != 0 || err != nil {
		t.Fatalf("Dequeue = %v, %v", ls, err)
	}
	if tries, _, _ := s.count(); tries != 2 {
		t.Fatalf("%d tries by a wait on queues known empty before In, want 2", tries)
	}
	s.add("a", 1)
	s.clock.Advance(10 * time.Millisecond)
	if r := recvResult(t, ch, "the waiter, In after Wake{In}"); len(r.leases) != 1 || r.err != nil {
		t.Fatalf("got %v, %v; want the task", r.leases, r.err)
	}
	if ls, err := c.Dequeue(context.Background(), Wait(time.Millisecond)); len(ls) != 0 || err != nil {
		t.Fatalf("Dequeue = %v, %v", ls, err)
	}
	if tries, _, _ := s.count(); tries != 4 {
		t.Fatalf("%d tries after In passed, want 4: the marks end at In", tries)
	}

	// A waiter whose timer ends before In keeps its timer.
	s.mu.Lock()
	s.next = 5 * time.Millisecond
	s.mu.Unlock()
	s.wake(t, backend.Wake{}) // clears the marks
	ch = goDequeue(context.Background(), c)
	s.waitTries(t, 5)
	if err := s.clock.WaitTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.wake(t, backend.Wake{In: time.Hour})
	if err := s.clock.WaitTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.add("b", 1)
	s.clock.Advance(5 * time.Millisecond)
	if r := recvResult(t, ch, "the waiter at its own Next"); len(r.leases) != 1 || r.err != nil {
		t.Fatalf("got %v, %v; want the task", r.leases, r.err)
	}
}

// TestLingerDoesNotKeepClient checks that a registration lingering after the
// last waiter does not keep a Client its program dropped alive, with its
// backend's data, once the backend is closed: only the linger's timer refers to
// it then.
func TestLingerDoesNotKeepClient(t *testing.T) {
	wc := func() weak.Pointer[Client] {
		b := memory.New()
		c, err := New(b, "ns")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Dequeue(context.Background(), Wait(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		c.waits.mu.Lock()
		lingering := c.waits.listen != nil && c.waits.idle != nil
		c.waits.mu.Unlock()
		if !lingering {
			t.Fatal("no registration lingers after the last waiter")
		}
		b.Close()
		return weak.Make(c)
	}()
	for range 5 {
		runtime.GC()
		if wc.Value() == nil {
			return
		}
	}
	t.Fatalf("a dropped Client on a closed backend is still reachable within the linger (%v)", lingerFor)
}
