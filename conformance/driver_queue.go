package conformance

import (
	"bytes"
	"errors"
	"maps"
	"time"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S1.4 driver: a delivery carries the task as enqueued, leased on the backend's clock", fn: testDriverDelivery, driver: true},
		test{name: "S2.1 driver: a queue delivers its tasks in the order they were added", fn: testDriverFIFO, driver: true},
		test{name: "S2.2 driver: head enqueues come out last first, before every waiting task", fn: testDriverAtHead, driver: true},
		test{name: "S2.4 driver: a unique enqueue of a present key is ErrDuplicate and adds nothing", fn: testDriverUnique, driver: true},
		test{name: "S3.1 driver: Dequeue takes from its queues in priority order", fn: testDriverPriority, driver: true},
		test{name: "S3.2 driver: an answered task is dropped, counted, and its answer's TTL reset", fn: testDriverDedupe, driver: true},
	)
}

// testDriverDelivery enqueues two tasks, one with every field set and bytes that
// are not UTF-8, one empty, and checks what a Dequeue delivers: every field, a
// fresh token per lease, and the enqueue time and deadline on the backend's clock.
func testDriverDelivery(e *env) {
	h := e.handle()
	full := backend.Message{Type: "type", Key: "key", Payload: []byte("\x00\xff payload"), Headers: map[string]string{"h": "v", "": "empty"}, MaxAttempts: 7}
	empty := backend.Message{MaxAttempts: 1}
	var ids []string
	enq0, enq1 := e.between(func() {
		var err error
		if ids, err = h.Enqueue(e.ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{full, empty}}); err != nil {
			e.Fatal(err)
		}
	})
	if len(ids) != 2 || ids[0] == "" || ids[0] == ids[1] {
		e.Fatalf("Enqueue of 2 tasks returned IDs %q, want 2 distinct ones", ids)
	}
	lease := e.u(10)
	var r backend.DequeueResult
	deq0, deq1 := e.between(func() { r = e.take(h, backend.DequeueParams{Count: 3, Lease: lease}) })
	if len(r.Leases) != 2 {
		e.Fatalf("Dequeue(3) delivered %d tasks, want the 2 enqueued", len(r.Leases))
	}
	for i, m := range []backend.Message{full, empty} {
		l := r.Leases[i]
		if l.ID != ids[i] || l.Queue != "q" || l.Type != m.Type || l.Key != m.Key || !bytes.Equal(l.Payload, m.Payload) ||
			!maps.Equal(l.Headers, m.Headers) || l.Attempt != 0 || l.MaxAttempts != m.MaxAttempts {
			e.Fatalf("delivery %d is %+v, want the task %+v with ID %s in q, attempt 0", i, l.Task, m, ids[i])
		}
		if l.Token == "" {
			e.Fatalf("delivery %d has no token", i)
		}
		if l.EnqueuedAt.Before(enq0.Truncate(time.Millisecond)) || l.EnqueuedAt.After(enq1.Add(time.Millisecond)) {
			e.Fatalf("delivery %d: enqueued at %v, want in [%v, %v] on the backend's clock", i, l.EnqueuedAt, enq0, enq1)
		}
		if lo, hi := deq0.Truncate(time.Millisecond).Add(lease), deq1.Add(lease+time.Millisecond); l.Deadline.Before(lo) || l.Deadline.After(hi) {
			e.Fatalf("delivery %d: deadline %v, want in [%v, %v]: the lease of %v from the Dequeue", i, l.Deadline, lo, hi, lease)
		}
	}
	if r.Leases[0].Token == r.Leases[1].Token {
		e.Fatalf("two leases share the token %q", r.Leases[0].Token)
	}
	if r.Deduped != 0 {
		e.Fatalf("Dequeue reports %d deduped, want 0", r.Deduped)
	}
}

func testDriverFIFO(e *env) {
	h := e.handle()
	e.put(h, backend.EnqueueParams{Queue: "q"}, "a", "b", "c")
	e.put(h, backend.EnqueueParams{Queue: "q"}, "d")
	e.put(h, backend.EnqueueParams{Queue: "q"}, "e", "f")
	e.takePayloads(h, []string{"q"}, "a", "b")
	e.takePayloads(h, []string{"q"}, "c", "d", "e", "f")
	e.takePayloads(h, []string{"q"})
}

func testDriverAtHead(e *env) {
	h := e.handle()
	e.put(h, backend.EnqueueParams{Queue: "q"}, "a", "b")
	e.put(h, backend.EnqueueParams{Queue: "q", AtHead: true}, "h1", "h2")
	e.put(h, backend.EnqueueParams{Queue: "q", AtHead: true}, "h3")
	e.takePayloads(h, []string{"q"}, "h3", "h2", "h1", "a", "b")
}

// testDriverUnique: a unique enqueue is refused for a key that is waiting, leased
// or answered, or repeated within the batch, and the refused batch adds none of
// its tasks.
func testDriverUnique(e *env) {
	h := e.handle()
	unique := backend.EnqueueParams{Queue: "q", Unique: true}
	e.put(h, unique, "waiting", "leased")
	e.put(h, backend.EnqueueParams{Queue: "other"}, "x")
	e.takePayloads(h, []string{"other"}, "x")
	if err := h.SetAnswer(e.ctx, backend.SetAnswerParams{Key: "answered", Answer: backend.Answer{Value: []byte("v"), OK: true, TTL: e.u(100)}}); err != nil {
		e.Fatal(err)
	}
	before := e.snap(h)
	for _, batch := range [][]string{{"fresh", "waiting"}, {"x", "fresh"}, {"fresh", "answered"}, {"fresh", "fresh"}} {
		p := unique
		for _, s := range batch {
			p.Tasks = append(p.Tasks, message(s))
		}
		if _, err := h.Enqueue(e.ctx, p); !errors.Is(err, backend.ErrDuplicate) {
			e.Fatalf("unique Enqueue of %q: %v, want ErrDuplicate", batch, err)
		}
	}
	e.wantUnchanged("refused unique enqueues", h, before)
	e.put(h, unique, "fresh")
	e.takePayloads(h, []string{"q"}, "waiting", "leased", "fresh")
}

// testDriverPriority: a Dequeue takes from the first of its queues with tasks
// waiting, then fills its batch from the next, and never more than its count.
func testDriverPriority(e *env) {
	h := e.handle()
	e.put(h, backend.EnqueueParams{Queue: "lo"}, "l1", "l2", "l3")
	e.put(h, backend.EnqueueParams{Queue: "hi"}, "h1")
	e.takePayloads(h, []string{"none", "hi", "lo"}, "h1", "l1")
	e.put(h, backend.EnqueueParams{Queue: "hi"}, "h2")
	e.takePayloads(h, []string{"hi", "lo"}, "h2")
	e.takePayloads(h, []string{"lo", "hi"}, "l2", "l3")
}

// testDriverDedupe: tasks whose key has an answer are dropped by a Dequeue, which
// reports and counts them, resets the answer's TTL to its full length, and
// delivers the next task in the same call; their job records are finished.
func testDriverDedupe(e *env) {
	h := e.handle()
	ttl := e.u(10)
	if err := h.SetAnswer(e.ctx, backend.SetAnswerParams{Key: "k", Answer: backend.Answer{Value: []byte("v"), OK: true, TTL: ttl}}); err != nil {
		e.Fatal(err)
	}
	ids := e.put(h, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: e.u(100)}, "k", "k", "fresh")
	e.advance(4)
	var r backend.DequeueResult
	deq0, _ := e.between(func() { r = e.take(h, backend.DequeueParams{Count: 3}) })
	if got := payloads(r.Leases); len(got) != 1 || got[0] != "fresh" || r.Deduped != 2 {
		e.Fatalf("Dequeue(3) = %q with %d deduped; want fresh alone, 2 deduped", got, r.Deduped)
	}
	var a backend.Answer
	_, read1 := e.between(func() {
		var err error
		if a, err = h.GetAnswer(e.ctx, backend.GetAnswerParams{Key: "k"}); err != nil {
			e.Fatalf("GetAnswer: %v", err)
		}
	})
	e.within(deq0, 3, "a dequeue and a read of the answer", func() {
		if lo := ttl - read1.Sub(deq0) - time.Millisecond; a.TTL != ttl || a.Left < lo || a.Left > ttl {
			e.Fatalf("answer after the dedupe: TTL %v, %v left; want TTL %v and at least %v left: the dedupe resets it", a.TTL, a.Left, ttl, lo)
		}
	})
	in, ok := h.(backend.Inspector)
	if !ok {
		return
	}
	st, err := in.Stats(e.ctx, backend.StatsParams{Queues: []string{"q"}})
	if err != nil {
		e.Fatal(err)
	}
	if st.Counters.Deduped != 2 || st.Queues["q"].Waiting != 0 {
		e.Fatalf("Stats after the dedupe: %+v; want 2 deduped, none waiting", st)
	}
	for _, id := range ids[:2] {
		if j, err := in.Job(e.ctx, backend.JobParams{ID: id}); err != nil || j.Status != backend.StatusFinished || j.Attempts != 0 {
			e.Fatalf("job record of a deduped task: %+v, %v; want finished after 0 attempts", j, err)
		}
	}
}
