package conformance

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/keyq/keyq/backend"
)

// The driver tier: tests that call a backend.Namespace handle directly, as package
// keyq does, without it in between. They hold a driver to the contract of package
// backend on its own: that it validates its input (S1.5, S8.4), and that each
// storage call does what its doc comment says.

// handle returns the handle of the test's namespace.
func (e *env) handle() backend.Namespace {
	e.Helper()
	h, err := e.tg.Backend.Namespace(e.ns)
	if err != nil {
		e.Fatalf("Namespace(%q): %v", e.ns, err)
	}
	if h == nil {
		e.Fatalf("Namespace(%q) returned a nil handle and no error", e.ns)
	}
	return h
}

// message returns a task to enqueue whose key is its payload.
func message(payload string) backend.Message {
	return backend.Message{Type: "t", Key: payload, Payload: []byte(payload), MaxAttempts: 25}
}

// put enqueues tasks with the given payloads, one batch, and returns their IDs.
func (e *env) put(h backend.Namespace, p backend.EnqueueParams, payloads ...string) []string {
	e.Helper()
	for _, s := range payloads {
		p.Tasks = append(p.Tasks, message(s))
	}
	ids, err := h.Enqueue(e.ctx, p)
	if err != nil {
		e.Fatalf("Enqueue(%q, %q): %v", p.Queue, payloads, err)
	}
	if len(ids) != len(p.Tasks) {
		e.Fatalf("Enqueue of %d tasks returned %d IDs", len(p.Tasks), len(ids))
	}
	return ids
}

// take dequeues with p, a lease of 100 units unless p says otherwise.
func (e *env) take(h backend.Namespace, p backend.DequeueParams) backend.DequeueResult {
	e.Helper()
	if p.Lease == 0 {
		p.Lease = e.u(100)
	}
	if p.Count == 0 {
		p.Count = 1
	}
	if p.Queues == nil {
		p.Queues = []string{"q"}
	}
	r, err := h.Dequeue(e.ctx, p)
	if err != nil {
		e.Fatalf("Dequeue(%v, %d): %v", p.Queues, p.Count, err)
	}
	if len(r.Leases) > p.Count {
		e.Fatalf("Dequeue(%d) returned %d leases", p.Count, len(r.Leases))
	}
	return r
}

// takePayloads dequeues up to len(want) tasks of queues and checks their payloads.
func (e *env) takePayloads(h backend.Namespace, queues []string, want ...string) []backend.Lease {
	e.Helper()
	r := e.take(h, backend.DequeueParams{Queues: queues, Count: max(len(want), 1)})
	if got := payloads(r.Leases); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		e.Fatalf("Dequeue(%v, %d) delivered %q, want %q", queues, len(want), got, want)
	}
	return r.Leases
}

func payloads(ls []backend.Lease) []string {
	var out []string
	for _, l := range ls {
		out = append(out, string(l.Payload))
	}
	return out
}

// settleAll settles items in one call and checks the results, one per item.
func (e *env) settleAll(h backend.Namespace, want []backend.SettleResult, items ...backend.Settlement) {
	e.Helper()
	got, err := h.Settle(e.ctx, backend.SettleParams{Items: items})
	if err != nil {
		e.Fatalf("Settle of %d items: %v", len(items), err)
	}
	if !reflect.DeepEqual(got, want) {
		e.Fatalf("Settle results %v, want %v", got, want)
	}
}

// ack returns a Settlement that acks l.
func ack(l backend.Lease) backend.Settlement {
	return backend.Settlement{LeaseRef: ref(l), Action: backend.Ack}
}

// release returns a Settlement that releases l to the head of its queue.
func release(l backend.Lease) backend.Settlement {
	return backend.Settlement{LeaseRef: ref(l), Action: backend.Release}
}

func ref(l backend.Lease) backend.LeaseRef {
	return backend.LeaseRef{TaskID: l.ID, Token: l.Token}
}

// results is shorthand for a list of settle results.
func results(rs ...backend.SettleResult) []backend.SettleResult { return rs }

// snapshot is what a namespace holds, as far as the driver shows it: what its
// Inspector reads (when it has one) and the answers of keys.
type snapshot struct {
	Stats   backend.Stats
	Waiting map[string][]backend.Task
	Leases  []backend.Lease
	Dead    []backend.DeadTask
	Delayed []backend.DelayedTask // nil when the driver cannot list them
	Answers map[string]string
}

// snap reads the namespace: every queue that Stats knows, the leases, the dead
// and the delayed tasks and the answers of keys. It only reads, so two snapshots with nothing
// done in between are equal.
func (e *env) snap(h backend.Namespace, keys ...string) snapshot {
	e.Helper()
	s := snapshot{Waiting: map[string][]backend.Task{}, Answers: map[string]string{}}
	for _, k := range keys {
		a, err := h.GetAnswer(e.ctx, backend.GetAnswerParams{Key: k})
		switch {
		case err == nil:
			s.Answers[k] = fmt.Sprintf("%q ok=%v ttl=%v", a.Value, a.OK, a.TTL)
		case isNotFound(err):
			s.Answers[k] = "none"
		default:
			e.Fatalf("GetAnswer(%q): %v", k, err)
		}
	}
	in, ok := h.(backend.Inspector)
	if !ok {
		return s
	}
	var err error
	if s.Stats, err = in.Stats(e.ctx, backend.StatsParams{}); err != nil {
		e.Fatalf("Stats: %v", err)
	}
	for q := range s.Stats.Queues {
		if s.Waiting[q], err = in.Peek(e.ctx, backend.PeekParams{Queue: q, Count: 1000}); err != nil {
			e.Fatalf("Peek(%q): %v", q, err)
		}
	}
	if s.Leases, err = in.Leases(e.ctx, backend.LeasesParams{Count: 1000}); err != nil {
		e.Fatalf("Leases: %v", err)
	}
	if s.Dead, err = in.Dead(e.ctx, backend.DeadParams{Count: 1000}); err != nil {
		e.Fatalf("Dead: %v", err)
	}
	// A driver may not list delayed tasks yet: the tests that need it skip.
	if s.Delayed, err = in.Delayed(e.ctx, backend.DelayedParams{Count: 1000}); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		e.Fatalf("Delayed: %v", err)
	}
	return s
}

func isNotFound(err error) bool { return errors.Is(err, backend.ErrNotFound) }

// wantUnchanged checks that the namespace still holds what before says.
func (e *env) wantUnchanged(what string, h backend.Namespace, before snapshot, keys ...string) {
	e.Helper()
	if after := e.snap(h, keys...); !reflect.DeepEqual(before, after) {
		e.Fatalf("%s changed the namespace:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// call is one driver call with its arguments fixed but its context.
type call struct {
	name string
	fn   func(ctx context.Context) error
}

// protect runs f and turns a panic into an error.
func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// validCalls returns a call of every method of h, its optional interfaces'
// included, with valid arguments that name l (a lease the test holds) where a
// method takes a lease.
func validCalls(h backend.Namespace, l backend.LeaseRef) []call {
	cs := []call{
		{"Enqueue", func(ctx context.Context) error {
			_, err := h.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{message("new")}})
			return err
		}},
		{"Dequeue", func(ctx context.Context) error {
			_, err := h.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Hour})
			return err
		}},
		{"Settle", func(ctx context.Context) error {
			_, err := h.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: l, Action: backend.Ack}}})
			return err
		}},
		{"Extend", func(ctx context.Context) error {
			_, err := h.Extend(ctx, backend.ExtendParams{Leases: []backend.LeaseRef{l}, Lease: time.Hour})
			return err
		}},
		{"SetAnswer", func(ctx context.Context) error {
			return h.SetAnswer(ctx, backend.SetAnswerParams{Key: "new", Answer: backend.Answer{Value: []byte("v"), TTL: time.Hour}})
		}},
		{"GetAnswer", func(ctx context.Context) error {
			_, err := h.GetAnswer(ctx, backend.GetAnswerParams{Key: "k", Refresh: true})
			return err
		}},
	}
	if in, ok := h.(backend.Inspector); ok {
		cs = append(cs,
			call{"Stats", func(ctx context.Context) error { _, err := in.Stats(ctx, backend.StatsParams{}); return err }},
			call{"Job", func(ctx context.Context) error { _, err := in.Job(ctx, backend.JobParams{ID: l.TaskID}); return err }},
			call{"Peek", func(ctx context.Context) error {
				_, err := in.Peek(ctx, backend.PeekParams{Queue: "q", Count: 1})
				return err
			}},
			call{"Leases", func(ctx context.Context) error { _, err := in.Leases(ctx, backend.LeasesParams{Count: 1}); return err }},
			call{"Dead", func(ctx context.Context) error { _, err := in.Dead(ctx, backend.DeadParams{Count: 1}); return err }},
			call{"Delayed", func(ctx context.Context) error {
				_, err := in.Delayed(ctx, backend.DelayedParams{Count: 1})
				return err
			}},
		)
	}
	if co, ok := h.(backend.Controller); ok {
		cs = append(cs,
			call{"Pause", func(ctx context.Context) error { return co.Pause(ctx, backend.PauseParams{Queues: []string{"q"}}) }},
			call{"Cancel", func(ctx context.Context) error {
				_, err := co.Cancel(ctx, backend.CancelParams{ID: l.TaskID, Running: true})
				return err
			}},
		)
	}
	if ad, ok := h.(backend.Admin); ok {
		cs = append(cs,
			call{"Reclaim", func(ctx context.Context) error { _, err := ad.Reclaim(ctx); return err }},
			call{"RequeueDead", func(ctx context.Context) error {
				_, err := ad.RequeueDead(ctx, backend.DeadActionParams{All: true})
				return err
			}},
			call{"PurgeDead", func(ctx context.Context) error {
				_, err := ad.PurgeDead(ctx, backend.DeadActionParams{All: true})
				return err
			}},
			call{"DeleteAnswer", func(ctx context.Context) error {
				return ad.DeleteAnswer(ctx, backend.DeleteAnswerParams{Key: "k"})
			}},
		)
	}
	if rl, ok := h.(backend.RateLimiter); ok {
		cs = append(cs, call{"Allow", func(ctx context.Context) error {
			_, err := rl.Allow(ctx, backend.AllowParams{Name: "r", Interval: time.Hour, Burst: 1})
			return err
		}})
	}
	if x, ok := h.(backend.Exchanger); ok {
		cs = append(cs, call{"Exchange", func(ctx context.Context) error {
			_, _, err := x.Exchange(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: l, Action: backend.Ack}}},
				backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Hour})
			return err
		}})
	}
	if n, ok := h.(backend.Notifier); ok {
		cs = append(cs, call{"Notify", func(ctx context.Context) error {
			stop, err := n.Notify(ctx, func(backend.Wake) {})
			if err == nil {
				stop()
			}
			return err
		}})
	}
	return cs
}
