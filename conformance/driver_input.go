package conformance

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S8.10 and S1.5 driver: bad input to every method is ErrInvalid and changes nothing", fn: testDriverBadInput, driver: true},
		test{name: "S7.1 driver: a done context ends every method with its error and changes nothing", fn: testDriverDoneContext, driver: true},
		test{name: "S8.4 and S8.10 driver: no input makes a driver method panic", fn: testDriverNoPanics, driver: true},
	)
}

// stock fills the namespace with a little of everything: tasks waiting in q, a
// delayed task, a live lease, a dead task and an answer under "k". It returns the
// live lease and the keys whose answers a snapshot should read.
func (e *env) stock(h backend.Namespace) (backend.Lease, []string) {
	e.Helper()
	e.put(h, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: e.u(100)}, "a", "b", "c", "d")
	e.put(h, backend.EnqueueParams{Queue: "q", Delay: e.u(100)}, "later")
	ls := e.takePayloads(h, []string{"q"}, "a", "b")
	e.settleAll(h, results(backend.SettleDone), backend.Settlement{LeaseRef: ref(ls[1]), Action: backend.DeadLetter, Error: "stock"})
	if err := h.SetAnswer(e.ctx, backend.SetAnswerParams{Key: "k", Answer: backend.Answer{Value: []byte("v"), OK: true, TTL: e.u(100)}}); err != nil {
		e.Fatalf("SetAnswer: %v", err)
	}
	return ls[0], []string{"k", "a", "x", "new", ""}
}

// badCalls returns calls of every method of h, its optional interfaces' included,
// each with one thing wrong, that would otherwise act on l, a live lease.
func badCalls(h backend.Namespace, l backend.LeaseRef) []call {
	var cs []call
	add := func(name string, fn func(ctx context.Context) error) { cs = append(cs, call{name, fn}) }

	enqueue := func(what string, edit func(p *backend.EnqueueParams)) {
		p := backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{message("x")}}
		edit(&p)
		add("Enqueue with "+what, func(ctx context.Context) error { _, err := h.Enqueue(ctx, p); return err })
	}
	enqueue("an empty queue name", func(p *backend.EnqueueParams) { p.Queue = "" })
	enqueue("no tasks", func(p *backend.EnqueueParams) { p.Tasks = nil })
	enqueue("a negative delay", func(p *backend.EnqueueParams) { p.Delay = -1 })
	enqueue("a delay over MaxDuration", func(p *backend.EnqueueParams) { p.Delay = backend.MaxDuration + 1 })
	enqueue("jobs tracked for a zero job TTL", func(p *backend.EnqueueParams) { p.TrackJobs = true })
	enqueue("a negative job TTL", func(p *backend.EnqueueParams) { p.TrackJobs, p.JobTTL = true, -time.Hour })
	enqueue("a job TTL over MaxDuration", func(p *backend.EnqueueParams) { p.TrackJobs, p.JobTTL = true, backend.MaxDuration+1 })
	for _, n := range []int{0, -1, backend.MaxAttemptsLimit + 1} {
		enqueue("MaxAttempts out of range in a batch's second task", func(p *backend.EnqueueParams) {
			bad := message("y")
			bad.MaxAttempts = n
			p.Tasks = append(p.Tasks, bad)
		})
	}

	dequeue := func(what string, edit func(p *backend.DequeueParams)) {
		p := backend.DequeueParams{Queues: []string{"q"}, Count: 10, Lease: time.Hour}
		edit(&p)
		add("Dequeue with "+what, func(ctx context.Context) error { _, err := h.Dequeue(ctx, p); return err })
		if x, ok := h.(backend.Exchanger); ok { // a good ack, then a bad dequeue: nothing is settled
			add("Exchange with "+what, func(ctx context.Context) error {
				_, _, err := x.Exchange(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: l, Action: backend.Ack}}}, p)
				return err
			})
		}
	}
	dequeue("no queues", func(p *backend.DequeueParams) { p.Queues = nil })
	dequeue("an empty queue name", func(p *backend.DequeueParams) { p.Queues = []string{"q", ""} })
	for _, n := range []int{0, -1, backend.MaxCount + 1} {
		dequeue("a count out of range", func(p *backend.DequeueParams) { p.Count = n })
	}
	for _, d := range []time.Duration{0, -1, backend.MaxDuration + 1} {
		dequeue("a lease out of range", func(p *backend.DequeueParams) { p.Lease = d })
	}

	settle := func(what string, items ...backend.Settlement) {
		add("Settle with "+what, func(ctx context.Context) error {
			_, err := h.Settle(ctx, backend.SettleParams{Items: items})
			return err
		})
		if x, ok := h.(backend.Exchanger); ok { // bad settlements, then a good dequeue: nothing is leased
			add("Exchange with "+what, func(ctx context.Context) error {
				_, _, err := x.Exchange(ctx, backend.SettleParams{Items: items}, backend.DequeueParams{Queues: []string{"q"}, Count: 10, Lease: time.Hour})
				return err
			})
		}
	}
	item := func(a backend.Action, edit func(s *backend.Settlement)) backend.Settlement {
		s := backend.Settlement{LeaseRef: l, Action: a}
		edit(&s)
		return s
	}
	good := item(backend.Ack, func(*backend.Settlement) {})
	answer := &backend.Answer{Value: []byte("late"), OK: true, TTL: time.Hour}
	settle("no items")
	settle("more than MaxCount items", slices.Repeat([]backend.Settlement{good}, backend.MaxCount+1)...)
	settle("an empty task ID", item(backend.Ack, func(s *backend.Settlement) { s.TaskID = "" }))
	settle("an empty token", item(backend.Ack, func(s *backend.Settlement) { s.Token = "" }))
	for _, a := range []backend.Action{0, backend.DeadLetter + 1, 255} {
		settle("an unknown action", item(a, func(*backend.Settlement) {}))
	}
	settle("an ack to the tail", item(backend.Ack, func(s *backend.Settlement) { s.ToTail = true }))
	settle("an ack with a delay", item(backend.Ack, func(s *backend.Settlement) { s.Delay = time.Second }))
	settle("an ack that keeps the attempt", item(backend.Ack, func(s *backend.Settlement) { s.KeepAttempt = true }))
	for _, st := range []backend.JobStatus{backend.StatusPending, backend.StatusRunning, backend.StatusDead, "bogus"} {
		settle("an ack with a status that is not an ack's", item(backend.Ack, func(s *backend.Settlement) { s.Status = st }))
	}
	for _, ttl := range []time.Duration{0, -1, backend.MaxDuration + 1} {
		settle("an ack with an answer TTL out of range", item(backend.Ack, func(s *backend.Settlement) {
			s.Answer = &backend.Answer{Value: []byte("v"), OK: true, TTL: ttl}
		}))
	}
	settle("a release with an answer", item(backend.Release, func(s *backend.Settlement) { s.Answer = answer }))
	settle("a release with a status", item(backend.Release, func(s *backend.Settlement) { s.Status = backend.StatusFinished }))
	for _, d := range []time.Duration{-1, backend.MaxDuration + 1} {
		settle("a release with a delay out of range", item(backend.Release, func(s *backend.Settlement) { s.Delay = d }))
	}
	settle("a dead-letter to the tail", item(backend.DeadLetter, func(s *backend.Settlement) { s.ToTail = true }))
	settle("a dead-letter with a delay", item(backend.DeadLetter, func(s *backend.Settlement) { s.Delay = time.Second }))
	settle("a dead-letter that keeps the attempt", item(backend.DeadLetter, func(s *backend.Settlement) { s.KeepAttempt = true }))
	settle("a dead-letter with an answer", item(backend.DeadLetter, func(s *backend.Settlement) { s.Answer = answer }))
	settle("a dead-letter with a status", item(backend.DeadLetter, func(s *backend.Settlement) { s.Status = backend.StatusFailed }))
	settle("a good ack and a bad item", good, item(backend.Ack, func(s *backend.Settlement) { s.Token = "" }))

	extend := func(what string, d time.Duration, refs ...backend.LeaseRef) {
		add("Extend with "+what, func(ctx context.Context) error {
			_, err := h.Extend(ctx, backend.ExtendParams{Leases: refs, Lease: d})
			return err
		})
	}
	extend("no leases", time.Hour)
	extend("more than MaxCount leases", time.Hour, slices.Repeat([]backend.LeaseRef{l}, backend.MaxCount+1)...)
	extend("an empty task ID", time.Hour, backend.LeaseRef{Token: l.Token})
	extend("an empty token", time.Hour, l, backend.LeaseRef{TaskID: l.TaskID})
	for _, d := range []time.Duration{0, -1, backend.MaxDuration + 1} {
		extend("a lease out of range", d, l)
	}

	for _, ttl := range []time.Duration{0, -1, backend.MaxDuration + 1} {
		add("SetAnswer with a TTL out of range", func(ctx context.Context) error {
			return h.SetAnswer(ctx, backend.SetAnswerParams{Key: "k", Answer: backend.Answer{Value: []byte("new"), OK: true, TTL: ttl}})
		})
	}

	if in, ok := h.(backend.Inspector); ok {
		add("Stats with an empty queue name", func(ctx context.Context) error {
			_, err := in.Stats(ctx, backend.StatsParams{Queues: []string{"q", ""}})
			return err
		})
		add("Job with an empty ID", func(ctx context.Context) error { _, err := in.Job(ctx, backend.JobParams{}); return err })
		for _, p := range []backend.PeekParams{{Count: 1}, {Queue: "q", Offset: -1, Count: 1}, {Queue: "q"}, {Queue: "q", Count: -1}} {
			add("Peek with an empty queue name, a negative offset or a count below 1", func(ctx context.Context) error {
				_, err := in.Peek(ctx, p)
				return err
			})
		}
		for _, n := range []int{0, -1} {
			add("Leases with a count below 1", func(ctx context.Context) error {
				_, err := in.Leases(ctx, backend.LeasesParams{Count: n})
				return err
			})
		}
		for _, p := range []backend.DeadParams{{Offset: -1, Count: 1}, {}, {Count: -1}} {
			add("Dead with a negative offset or a count below 1", func(ctx context.Context) error {
				_, err := in.Dead(ctx, p)
				return err
			})
		}
		for _, p := range []backend.DelayedParams{{Offset: -1, Count: 1}, {Queue: "q", Offset: -1, Count: 1}, {}, {Queue: "q"}, {Count: -1}} {
			add("Delayed with a negative offset or a count below 1", func(ctx context.Context) error {
				_, err := in.Delayed(ctx, p)
				return err
			})
		}
	}
	if co, ok := h.(backend.Controller); ok {
		for _, p := range []backend.PauseParams{{}, {Queues: []string{}}, {Queues: []string{"q", ""}}, {Queues: []string{""}, Resume: true}} {
			add("Pause with no queues or an empty queue name", func(ctx context.Context) error { return co.Pause(ctx, p) })
		}
		for _, p := range []backend.CancelParams{{}, {Running: true}} {
			add("Cancel with an empty ID", func(ctx context.Context) error {
				_, err := co.Cancel(ctx, p)
				return err
			})
		}
	}
	if ad, ok := h.(backend.Admin); ok {
		add("RequeueDead of nothing", func(ctx context.Context) error {
			_, err := ad.RequeueDead(ctx, backend.DeadActionParams{})
			return err
		})
		add("PurgeDead of nothing", func(ctx context.Context) error {
			_, err := ad.PurgeDead(ctx, backend.DeadActionParams{IDs: []string{}})
			return err
		})
	}
	if rl, ok := h.(backend.RateLimiter); ok {
		for _, p := range []backend.AllowParams{
			{Interval: time.Second, Burst: 1},
			{Name: "r", Interval: 0, Burst: 1},
			{Name: "r", Interval: -1, Burst: 1},
			{Name: "r", Interval: backend.MaxDuration + 1, Burst: 1},
			{Name: "r", Interval: time.Second, Burst: 0},
			{Name: "r", Interval: time.Second, Burst: backend.MaxCount + 1},
		} {
			add("Allow with an empty name, an interval or a burst out of range", func(ctx context.Context) error {
				_, err := rl.Allow(ctx, p)
				return err
			})
		}
	}
	if n, ok := h.(backend.Notifier); ok {
		add("Notify with a nil func", func(ctx context.Context) error {
			stop, err := n.Notify(ctx, nil)
			if err == nil && stop != nil {
				stop()
			}
			return err
		})
	}
	return cs
}

// testDriverBadInput calls every method with each kind of bad input the contract
// names, and with a nil context: each call fails with ErrInvalid, none panics, and
// the namespace, stocked with waiting, delayed, leased and dead tasks and an
// answer, reads the same after them all. Most calls name a live lease or the
// stocked queue, so a driver that acted on them would show it.
func testDriverBadInput(e *env) {
	if _, err := e.tg.Backend.Namespace(""); !errors.Is(err, backend.ErrInvalid) {
		e.Errorf("Namespace(\"\"): %v, want ErrInvalid", err)
	}
	h := e.handle()
	l, keys := e.stock(h)
	before := e.snap(h, keys...)
	cs := badCalls(h, ref(l))
	for _, c := range validCalls(h, ref(l)) {
		cs = append(cs, call{c.name + " with a nil context", func(context.Context) error {
			return c.fn(nil) // a nil context: the bad input under test
		}})
	}
	for _, c := range cs {
		if err := protect(func() error { return c.fn(e.ctx) }); !errors.Is(err, backend.ErrInvalid) {
			e.Errorf("%s: %v, want ErrInvalid", c.name, err)
		}
	}
	e.wantUnchanged("bad input", h, before, keys...)
}

// testDriverDoneContext calls every method, with valid input, under a cancelled
// context and under one whose deadline has passed: each fails with the context's
// error as the contract reports it (backend.CtxErr: a deadline is ErrTimeout,
// matching context.DeadlineExceeded too; a cancellation is context.Canceled and
// not ErrTimeout), and nothing changes.
func testDriverDoneContext(e *env) {
	h := e.handle()
	l, keys := e.stock(h)
	before := e.snap(h, keys...)
	cancelled, cancel := context.WithCancel(e.ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
	defer cancel2()
	for _, c := range validCalls(h, ref(l)) {
		err := protect(func() error { return c.fn(cancelled) })
		if !errors.Is(err, context.Canceled) || errors.Is(err, backend.ErrTimeout) {
			e.Errorf("%s with a cancelled context: %v, want context.Canceled", c.name, err)
		}
		err = protect(func() error { return c.fn(expired) })
		if !errors.Is(err, backend.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			e.Errorf("%s with a context past its deadline: %v, want ErrTimeout", c.name, err)
		}
	}
	e.wantUnchanged("calls with a done context", h, before, keys...)
}

// testDriverNoPanics calls every method many times with arguments drawn from odd
// values, valid and not: none panics, and each call succeeds or fails with
// ErrInvalid, ErrNotFound or ErrDuplicate (or ErrLeased, for a Cancel).
func testDriverNoPanics(e *env) {
	h := e.handle()
	l, _ := e.stock(h)
	r := rand.New(rand.NewPCG(3, 4))
	pick := func(n int) int { return r.IntN(n) }
	str := func() string {
		return []string{"", "x", "q", "{}", "\x00", strings.Repeat("z", 300), "-1", "0", "99999999999999999999", "1e3", l.ID, l.Token}[pick(12)]
	}
	strs := func() []string {
		out := make([]string, pick(3))
		for i := range out {
			out[i] = str()
		}
		return out
	}
	num := func() int {
		return []int{math.MinInt, -1, 0, 1, 3, backend.MaxCount, backend.MaxCount + 1, math.MaxInt}[pick(8)]
	}
	dur := func() time.Duration {
		return []time.Duration{math.MinInt64, -time.Hour, -1, 0, 1, time.Millisecond, time.Hour, backend.MaxDuration, backend.MaxDuration + 1, math.MaxInt64}[pick(10)]
	}
	flag := func() bool { return pick(2) == 0 }
	msg := func() backend.Message {
		return backend.Message{Type: str(), Key: str(), Payload: []byte(str()), MaxAttempts: []int{0, 1, 25, backend.MaxAttemptsLimit, backend.MaxAttemptsLimit + 1, -1}[pick(6)]}
	}
	lref := func() backend.LeaseRef { return backend.LeaseRef{TaskID: str(), Token: str()} }
	answer := func() *backend.Answer {
		if flag() {
			return nil
		}
		return &backend.Answer{Value: []byte(str()), OK: flag(), TTL: dur(), Left: dur()}
	}
	handle := func() backend.Namespace {
		if pick(4) > 0 {
			return h
		}
		if other, err := e.tg.Backend.Namespace(str()); err == nil {
			return other
		}
		return h
	}
	calls := []func() error{
		func() error {
			ms := make([]backend.Message, pick(3))
			for i := range ms {
				ms[i] = msg()
			}
			_, err := handle().Enqueue(e.ctx, backend.EnqueueParams{Queue: str(), Tasks: ms, AtHead: flag(), Delay: dur(), Unique: flag(), TrackJobs: flag(), JobTTL: dur()})
			return err
		},
		func() error {
			_, err := handle().Dequeue(e.ctx, backend.DequeueParams{Queues: strs(), Count: num(), Lease: dur()})
			return err
		},
		func() error {
			items := make([]backend.Settlement, pick(3))
			for i := range items {
				items[i] = backend.Settlement{LeaseRef: lref(), Action: backend.Action(pick(5)), Answer: answer(),
					Status: backend.JobStatus(str()), Error: str(), ToTail: flag(), Delay: dur(), KeepAttempt: flag()}
				if flag() {
					items[i].Status = ""
				}
			}
			_, err := handle().Settle(e.ctx, backend.SettleParams{Items: items})
			return err
		},
		func() error {
			refs := make([]backend.LeaseRef, pick(3))
			for i := range refs {
				refs[i] = lref()
			}
			_, err := handle().Extend(e.ctx, backend.ExtendParams{Leases: refs, Lease: dur()})
			return err
		},
		func() error {
			a := answer()
			if a == nil {
				a = &backend.Answer{}
			}
			return handle().SetAnswer(e.ctx, backend.SetAnswerParams{Key: str(), Answer: *a})
		},
		func() error {
			_, err := handle().GetAnswer(e.ctx, backend.GetAnswerParams{Key: str(), Refresh: flag()})
			return err
		},
	}
	if _, ok := h.(backend.Inspector); ok {
		in := func() backend.Inspector { return handle().(backend.Inspector) }
		calls = append(calls,
			func() error { _, err := in().Stats(e.ctx, backend.StatsParams{Queues: strs()}); return err },
			func() error { _, err := in().Job(e.ctx, backend.JobParams{ID: str()}); return err },
			func() error {
				_, err := in().Peek(e.ctx, backend.PeekParams{Queue: str(), Offset: num(), Count: num()})
				return err
			},
			func() error { _, err := in().Leases(e.ctx, backend.LeasesParams{Count: num()}); return err },
			func() error { _, err := in().Dead(e.ctx, backend.DeadParams{Offset: num(), Count: num()}); return err },
			func() error {
				_, err := in().Delayed(e.ctx, backend.DelayedParams{Queue: str(), Offset: num(), Count: num()})
				return err
			},
		)
	}
	if _, ok := h.(backend.Controller); ok {
		co := func() backend.Controller { return handle().(backend.Controller) }
		calls = append(calls,
			func() error { return co().Pause(e.ctx, backend.PauseParams{Queues: strs(), Resume: flag()}) },
			func() error {
				_, err := co().Cancel(e.ctx, backend.CancelParams{ID: str(), Running: flag()})
				if errors.Is(err, backend.ErrLeased) {
					return nil // a cancel without Running of the stocked lease
				}
				return err
			},
		)
	}
	if _, ok := h.(backend.Admin); ok {
		ad := func() backend.Admin { return handle().(backend.Admin) }
		calls = append(calls,
			func() error { _, err := ad().Reclaim(e.ctx); return err },
			func() error {
				_, err := ad().RequeueDead(e.ctx, backend.DeadActionParams{IDs: strs(), All: pick(4) == 0})
				return err
			},
			func() error {
				_, err := ad().PurgeDead(e.ctx, backend.DeadActionParams{IDs: strs(), All: pick(4) == 0})
				return err
			},
			func() error { return ad().DeleteAnswer(e.ctx, backend.DeleteAnswerParams{Key: str()}) },
		)
	}
	if _, ok := h.(backend.RateLimiter); ok {
		calls = append(calls, func() error {
			_, err := handle().(backend.RateLimiter).Allow(e.ctx, backend.AllowParams{Name: str(), Interval: dur(), Burst: num()})
			return err
		})
	}
	for i := range 500 {
		n := pick(len(calls))
		err := protect(calls[n])
		if err != nil && !errors.Is(err, backend.ErrInvalid) && !errors.Is(err, backend.ErrNotFound) && !errors.Is(err, backend.ErrDuplicate) {
			e.Fatalf("call %d (kind %d) gave %v, want success, ErrInvalid, ErrNotFound or ErrDuplicate", i, n, err)
		}
	}
}
