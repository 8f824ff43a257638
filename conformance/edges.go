package conformance

import (
	"fmt"
	"math"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

// Limits at the edges, where backends are most apt to differ: durations at their
// maximum and below a millisecond, batches whose items touch one key, windows far
// larger than what is stored, dedupe beyond one round's cap. The driver tier
// (driver_input.go) calls the driver itself with a nil context and other bad input.

func init() {
	register(
		test{name: "S3.2 dedupe beyond one round's cap delivers what housekeeping brought", fn: testDedupeBeyondCap},
		test{name: "S4.2 a batch ack applies its items in order", fn: testAckBatchOrder},
		test{name: "S5.1 and S7.4 an answer's TTL is kept in whole milliseconds, rounded up", fn: testAnswerTTLMillis},
		test{name: "S7.2 the longest delay, lease and TTLs hold", fn: testMaxDurations},
		test{name: "S9.3 peek, leases and dead return the window of a huge count or offset", fn: testHugeWindows},
	)
}

// testDedupeBeyondCap: answered tasks beyond one round's cap (backend.DedupeCap)
// wait ahead of a task, and more delayed tasks are due than one housekeeping
// round moves (backend.HousekeepingBatch). Every driver delivers the same tasks:
// a round that reaches the cap ends, housekeeping runs again and brings the rest
// of the due tasks, and the next round starts from the head again.
func testDedupeBeyondCap(e *env) {
	c := e.client()
	const answered, delayed = 1500, 1500
	msgs := make([]keyq.Message, answered)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: fmt.Appendf(nil, "answered %d", i), Key: "answered"}
	}
	msgs = append(msgs, keyq.Message{Payload: []byte("fresh")})
	if _, err := c.EnqueueBatch(e.ctx, "q", msgs); err != nil {
		e.Fatal(err)
	}
	if err := c.SetAnswer(e.ctx, "answered", 1); err != nil {
		e.Fatal(err)
	}
	msgs = make([]keyq.Message, delayed)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: fmt.Appendf(nil, "delayed %d", i)}
	}
	if _, err := c.EnqueueBatch(e.ctx, "q", msgs, keyq.Delay(e.u(1))); err != nil {
		e.Fatal(err)
	}
	e.advance(1.5)
	ls, err := c.Dequeue(e.ctx, keyq.Batch(2000), keyq.LeaseFor(e.u(100)))
	if err != nil {
		e.Fatal(err)
	}
	fresh := 0
	for _, l := range ls {
		if string(l.Payload) == "fresh" {
			fresh++
		}
	}
	st := e.stats(c, "q")
	if len(ls) != delayed+1 || fresh != 1 || st.Counters.Deduped != answered {
		e.Fatalf("Dequeue(2000) = %d leases (fresh %d times), %d deduped; want %d leases, the fresh task once, %d deduped",
			len(ls), fresh, st.Counters.Deduped, delayed+1, answered)
	}
}

// testAckBatchOrder: a batch ack acts as its items one after the other: of two
// leases of one key acked with different answers, the later answer stays, also
// when the leases' tokens lie far apart and an item of another token range lies
// between them.
func testAckBatchOrder(e *env) {
	c := e.client()
	const n = 300
	msgs := make([]keyq.Message, n)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: fmt.Appendf(nil, "%d", i)}
	}
	for _, i := range []int{0, 1, n - 1} {
		msgs[i].Key = "k"
	}
	msgs[2].Key, msgs[3].Key = "pair", "pair"
	if _, err := c.EnqueueBatch(e.ctx, "q", msgs); err != nil {
		e.Fatal(err)
	}
	ls, err := c.Dequeue(e.ctx, keyq.Batch(n), keyq.LeaseFor(e.u(100)))
	if err != nil || len(ls) != n {
		e.Fatalf("Dequeue = %d, %v; want %d", len(ls), err, n)
	}
	reqs := []keyq.AckRequest{
		{Lease: &ls[0], Opts: []keyq.AckOption{keyq.WithAnswer("first")}},
		{Lease: &ls[n-1], Opts: []keyq.AckOption{keyq.WithAnswer("second")}},
		{Lease: &ls[1], Opts: []keyq.AckOption{keyq.WithAnswer("third")}},
		{Lease: &ls[2], Opts: []keyq.AckOption{keyq.WithAnswer("pair first")}},
		{Lease: &ls[3], Opts: []keyq.AckOption{keyq.WithErrorAnswer("pair second")}},
	}
	errs, err := c.AckBatch(e.ctx, reqs)
	if err != nil {
		e.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			e.Fatalf("item %d: %v", i, err)
		}
	}
	if a := e.answer(c, "k"); string(a.Value) != `"third"` {
		e.Fatalf("answer of k after the batch: %s, want the last item's \"third\"", a.Value)
	}
	if a := e.answer(c, "pair"); a.OK || string(a.Value) != `"pair second"` {
		e.Fatalf("answer of pair after the batch: %s (ok %v), want the last item's error answer", a.Value, a.OK)
	}
}

// testAnswerTTLMillis: a TTL that is not a whole number of milliseconds reads
// back rounded up to the next millisecond, the same on every backend.
func testAnswerTTLMillis(e *env) {
	whole := e.u(10).Truncate(time.Millisecond)
	for _, tc := range []struct{ ttl, want time.Duration }{
		{whole + time.Nanosecond, whole + time.Millisecond},
		{whole + 999*time.Microsecond, whole + time.Millisecond},
		{whole, whole},
	} {
		c := e.client(keyq.WithAnswerTTL(tc.ttl, tc.ttl))
		if err := c.SetAnswer(e.ctx, "k", 1); err != nil {
			e.Fatal(err)
		}
		if a := e.answer(c, "k"); a.TTL != tc.want {
			e.Fatalf("answer stored with TTL %v reads back TTL %v, want %v", tc.ttl, a.TTL, tc.want)
		}
	}
	if got := backend.RoundUp(1500 * time.Microsecond); got != 2*time.Millisecond {
		e.Fatalf("RoundUp(1.5ms) = %v", got)
	}
}

// testMaxDurations: a delay, lease, answer TTL and job TTL of backend.MaxDuration
// are taken and hold: the delayed task is not due, the lease is live, the answer
// and job record are there.
func testMaxDurations(e *env) {
	max := keyq.MaxDuration
	c := e.client(keyq.WithAnswerTTL(max, max), keyq.WithJobTTL(max), keyq.WithLease(max))
	e.enqueue(c, "q", "later", keyq.Delay(max))
	id := e.enqueue(c, "q", "now")
	l := e.nextPayload(c, "now")
	if d := l.Deadline.Sub(e.tg.Now()); d < max-time.Hour {
		e.Fatalf("a lease of %v has its deadline in %v", max, d)
	}
	e.none(c)
	if ls, err := c.Leases(e.ctx, 10); err != nil || len(ls) != 1 {
		e.Fatalf("Leases = %d, %v; want the live lease", len(ls), err)
	}
	if err := c.Extend(e.ctx, l, max); err != nil {
		e.Fatalf("Extend(%v): %v", max, err)
	}
	e.ack(c, l, keyq.WithAnswer("v"))
	if a := e.answer(c, "now"); a.TTL != max {
		e.Fatalf("answer TTL %v, want %v", a.TTL, max)
	}
	if j, err := c.Job(e.ctx, id); err != nil || j.Status != keyq.StatusFinished {
		e.Fatalf("Job = %+v, %v; want a finished record", j, err)
	}
	e.wantQueue(c, "q", keyq.QueueStats{Delayed: 1})
}

// testHugeWindows: Peek, Leases and Dead with a count or offset far beyond what
// is stored return what there is, not an error.
func testHugeWindows(e *env) {
	c := e.client(keyq.WithMaxAttempts(1))
	for _, p := range []string{"a", "b", "c"} {
		e.enqueue(c, "q", p)
	}
	e.release(c, e.nextPayload(c, "a")) // dead: one attempt
	l := e.nextPayload(c, "b")
	for _, n := range []int{math.MaxInt, math.MaxInt32, 1 << 53} {
		if ts, err := c.Peek(e.ctx, "q", 0, n); err != nil || len(ts) != 1 {
			e.Fatalf("Peek(0, %d) = %d tasks, %v; want 1", n, len(ts), err)
		}
		if ts, err := c.Peek(e.ctx, "q", n, 1); err != nil || len(ts) != 0 {
			e.Fatalf("Peek(%d, 1) = %d tasks, %v; want none", n, len(ts), err)
		}
		if ls, err := c.Leases(e.ctx, n); err != nil || len(ls) != 1 || ls[0].ID != l.ID {
			e.Fatalf("Leases(%d) = %d, %v; want the one lease", n, len(ls), err)
		}
		if ds, err := c.Dead(e.ctx, 0, n); err != nil || len(ds) != 1 {
			e.Fatalf("Dead(0, %d) = %d, %v; want 1", n, len(ds), err)
		}
		if ds, err := c.Dead(e.ctx, n, n); err != nil || len(ds) != 0 {
			e.Fatalf("Dead(%d, %d) = %d, %v; want none", n, n, len(ds), err)
		}
	}
}
