package conformance

import (
	"errors"
	"slices"
	"time"

	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S4.1 a lease lasts its duration on the backend's clock", fn: testLeaseDuration},
		test{name: "S4.2 ack removes the task for good", fn: testAckRemoves},
		test{name: "S4.2 ack stores the answer in the same step", fn: testAckAnswer},
		test{name: "S4.2 a batch ack ends each lease on its own", fn: testAckBatch},
		test{name: "S4.3 release puts the task back at the head", fn: testReleaseHead},
		test{name: "S4.3 release to the tail", fn: testReleaseTail},
		test{name: "S4.3 release after a delay", fn: testReleaseDelay},
		test{name: "S4.3 release may keep the attempt count", fn: testReleaseKeepAttempt},
		test{name: "S4.4 extend pushes the deadline to now plus d", fn: testExtend},
		test{name: "S4.5 an expired lease comes back by itself", fn: testReclaimAutomatic},
		test{name: "S4.5 an explicit reclaim counts what it put back", fn: testReclaimExplicit},
		test{name: "S4.6 ack, release and extend on an expired lease fail", fn: testLeaseLostAfterExpiry},
		test{name: "S4.6 a stale ack never touches a later delivery", fn: testStaleAck},
		test{name: "S4.6 a lease ends once", fn: testLeaseEndsOnce},
		test{name: "S4.7 used-up attempts go to the dead-letter list", fn: testDeadLetter},
		test{name: "S4.7 an expired last attempt goes to the dead-letter list", fn: testDeadByReclaim},
		test{name: "S4.7 dead tasks can be requeued and purged", fn: testDeadRequeuePurge},
	)
}

func (e *env) wantLost(what string, err error) {
	e.Helper()
	if !errors.Is(err, keyq.ErrLeaseLost) {
		e.Fatalf("%s: %v, want ErrLeaseLost", what, err)
	}
}

func testLeaseDuration(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	before := e.tg.Now()
	l := e.next(c, keyq.LeaseFor(e.u(4)))
	after := e.tg.Now()
	// Durations are kept in whole ms, rounded up: never shorter, up to 1 ms longer.
	if l.Deadline.Before(before.Add(e.u(4))) || l.Deadline.After(after.Add(e.u(4)+time.Millisecond)) {
		e.Fatalf("deadline %v, want now+4 units between %v and %v", l.Deadline, before.Add(e.u(4)), after.Add(e.u(4)))
	}
	e.advance(2)
	e.within(before, 4, "the lease and the extend inside it", func() {
		if err := c.Extend(e.ctx, l, e.u(4)); err != nil {
			e.Fatalf("Extend inside the lease: %v", err)
		}
	})
	e.advance(5)
	e.wantLost("Ack after the lease", c.Ack(e.ctx, l))
}

func testAckRemoves(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	l := e.next(c, keyq.LeaseFor(e.u(2)))
	e.ack(c, l)
	e.advance(3)
	e.none(c)
	if n, err := c.Reclaim(e.ctx); err != nil || n != 0 {
		e.Fatalf("Reclaim after ack = %d, %v", n, err)
	}
	e.wantQueue(c, "q", keyq.QueueStats{})
}

func testAckAnswer(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	e.ack(c, e.next(c), keyq.WithAnswer(map[string]int{"n": 7}))
	a, err := c.Answer(e.ctx, "a")
	var v map[string]int
	if err != nil || !a.OK || a.Decode(&v) != nil || v["n"] != 7 || a.TTL != keyq.DefaultAnswerTTL {
		e.Fatalf("answer %+v (%s), %v; want ok {n:7} with the default TTL", a, a.Value, err)
	}
	e.enqueue(c, "q", "b")
	e.ack(c, e.next(c), keyq.WithErrorAnswer("no such user"))
	if a, err = c.Answer(e.ctx, "b"); err != nil || a.OK || string(a.Value) != `"no such user"` || a.TTL != keyq.DefaultErrorTTL {
		e.Fatalf("error answer %+v (%s), %v", a, a.Value, err)
	}
}

func testAckBatch(e *env) {
	c := e.client()
	for _, p := range []string{"a", "b", "c", "d"} {
		e.enqueue(c, "q", p)
	}
	leased := e.mark()
	ls, err := c.Dequeue(e.ctx, keyq.Batch(4), keyq.LeaseFor(e.u(5)))
	if err != nil || len(ls) != 4 {
		e.Fatalf("Dequeue = %d, %v", len(ls), err)
	}
	e.within(leased, 5, "the leases and the acks inside them", func() { testAckBatchLeased(e, c, ls) })
}

// testAckBatchLeased is the part of testAckBatch that needs the leases still live.
func testAckBatchLeased(e *env, c *keyq.Client, ls []keyq.Lease) {
	e.ack(c, &ls[1]) // ended before the batch
	stale := ls[3]
	e.release(c, &ls[3])
	errs, err := c.AckBatch(e.ctx, []keyq.AckRequest{
		{Lease: &ls[0], Opts: []keyq.AckOption{keyq.WithAnswer("A")}},
		{Lease: &ls[1]},
		{Lease: nil},
		{Lease: &ls[2], Opts: []keyq.AckOption{keyq.WithErrorAnswer("C")}},
		{Lease: &stale, Opts: []keyq.AckOption{keyq.WithAnswer("stale")}},
	})
	if err != nil || len(errs) != 5 {
		e.Fatalf("AckBatch = %v, %v", errs, err)
	}
	want := []error{nil, keyq.ErrLeaseLost, keyq.ErrInvalid, nil, keyq.ErrLeaseLost}
	for i, w := range want {
		if (w == nil) != (errs[i] == nil) || (w != nil && !errors.Is(errs[i], w)) {
			e.Fatalf("item %d: %v, want %v", i, errs[i], w)
		}
	}
	if a := e.answer(c, "a"); !a.OK || string(a.Value) != `"A"` {
		e.Fatalf("answer of a: %+v", a)
	}
	if a := e.answer(c, "c"); a.OK || string(a.Value) != `"C"` {
		e.Fatalf("answer of c: %+v", a)
	}
	if ok, _ := c.Exists(e.ctx, "d"); ok {
		e.Fatal("a lost lease in a batch stored its answer")
	}
	st := e.stats(c, "q")
	if st.Counters.Acked != 3 || st.Queues["q"] != (keyq.QueueStats{Waiting: 1}) {
		e.Fatalf("stats %+v, want 3 acked and d waiting", st)
	}
	if errs, err := c.AckBatch(e.ctx, nil); err != nil || len(errs) != 0 {
		e.Fatalf("empty AckBatch = %v, %v", errs, err)
	}
}

func testReleaseHead(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	e.enqueue(c, "q", "b")
	l := e.nextPayload(c, "a")
	e.release(c, l)
	l = e.nextPayload(c, "a")
	if l.Attempt != 1 {
		e.Fatalf("attempt %d after one release, want 1", l.Attempt)
	}
	e.release(c, l)
	if l = e.nextPayload(c, "a"); l.Attempt != 2 {
		e.Fatalf("attempt %d after two releases, want 2", l.Attempt)
	}
}

func testReleaseTail(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	e.enqueue(c, "q", "b")
	e.release(c, e.nextPayload(c, "a"), keyq.ToTail())
	if got := e.drain(c); !slices.Equal(got, []string{"b", "a"}) {
		e.Fatalf("order %v, want [b a]", got)
	}
}

func testReleaseDelay(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	e.enqueue(c, "q", "b")
	l := e.nextPayload(c, "a")
	released := e.mark()
	e.release(c, l, keyq.Delay(e.u(3)))
	e.within(released, 3, "the release and the calls before its delay is up", func() {
		e.wantQueue(c, "q", keyq.QueueStats{Waiting: 1, Delayed: 1})
		e.enqueue(c, "q", "c")
		e.advance(1)
		e.ack(c, e.nextPayload(c, "b"))
	})
	e.advance(3)
	l = e.nextPayload(c, "a") // due: at the head, before c
	if l.Attempt != 1 {
		e.Fatalf("attempt %d, want 1", l.Attempt)
	}
	e.nextPayload(c, "c")
}

func testReleaseKeepAttempt(e *env) {
	c := e.client(keyq.MaxAttempts(1))
	e.enqueue(c, "q", "a")
	e.release(c, e.next(c), keyq.KeepAttempt())
	if l := e.nextPayload(c, "a"); l.Attempt != 0 {
		e.Fatalf("attempt %d after a release that keeps it, want 0", l.Attempt)
	}
}

func testExtend(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	leased := e.mark()
	l := e.next(c, keyq.LeaseFor(e.u(4)))
	e.advance(2)
	before := e.tg.Now()
	e.within(leased, 4, "the lease and the extend inside it", func() {
		if err := c.Extend(e.ctx, l, e.u(5)); err != nil {
			e.Fatal(err)
		}
	})
	if l.Deadline.Before(before.Add(e.u(5))) || l.Deadline.After(e.tg.Now().Add(e.u(5)+time.Millisecond)) {
		e.Fatalf("extended deadline %v, want now+5 units", l.Deadline)
	}
	e.advance(3) // past the first deadline, inside the new one
	e.within(before, 5, "the extend and the calls inside the new lease", func() {
		e.none(c)
		e.ack(c, l)
	})
}

func testReclaimAutomatic(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	e.enqueue(c, "q", "b")
	l := e.nextPayload(c, "a", keyq.LeaseFor(e.u(2)))
	e.advance(3)
	e.wantQueue(c, "q", keyq.QueueStats{Waiting: 2}) // no call reclaimed it: the backend did
	again := e.nextPayload(c, "a")
	if again.Attempt != 1 || again.ID != l.ID || again.Token == l.Token {
		e.Fatalf("reclaimed delivery: ID %s attempt %d token %s; want ID %s, attempt 1, a new token", again.ID, again.Attempt, again.Token, l.ID)
	}
	if st := e.stats(c); st.Counters.Reclaimed != 1 {
		e.Fatalf("counters %+v, want 1 reclaimed", st.Counters)
	}
}

func testReclaimExplicit(e *env) {
	c := e.client()
	for _, p := range []string{"a", "b", "c"} {
		e.enqueue(c, "q", p)
	}
	leased := e.mark()
	if _, err := c.Dequeue(e.ctx, keyq.Batch(2), keyq.LeaseFor(e.u(2))); err != nil {
		e.Fatal(err)
	}
	keep := e.next(c, keyq.LeaseFor(e.u(10)))
	e.within(leased, 2, "the leases and the reclaim inside them", func() {
		if n, err := c.Reclaim(e.ctx); err != nil || n != 0 {
			e.Fatalf("Reclaim with live leases = %d, %v; want 0", n, err)
		}
	})
	e.advance(3)
	e.within(leased, 10, "the long lease and the calls inside it", func() {
		if n, err := c.Reclaim(e.ctx); err != nil || n != 2 {
			e.Fatalf("Reclaim = %d, %v; want 2", n, err)
		}
		e.wantQueue(c, "q", keyq.QueueStats{Waiting: 2, Leased: 1})
		e.ack(c, keep)
	})
}

func testLeaseLostAfterExpiry(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	l := e.next(c, keyq.LeaseFor(e.u(2)))
	e.advance(3)
	e.wantLost("Ack", c.Ack(e.ctx, l, keyq.WithAnswer("late")))
	e.wantLost("Release", c.Release(e.ctx, l))
	e.wantLost("Extend", c.Extend(e.ctx, l, e.u(10)))
	if ok, _ := c.Exists(e.ctx, "a"); ok {
		e.Fatal("a failed late ack stored its answer")
	}
	if l = e.nextPayload(c, "a"); l.Attempt != 1 {
		e.Fatalf("attempt %d, want 1: the failed calls must change nothing", l.Attempt)
	}
}

func testStaleAck(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	first := e.next(c, keyq.LeaseFor(e.u(2)))
	e.advance(3)
	leased := e.mark()
	second := e.next(c, keyq.LeaseFor(e.u(10)))
	e.within(leased, 10, "the second lease and the calls inside it", func() { testStaleAckLeased(e, c, first, second) })
}

// testStaleAckLeased is the part of testStaleAck that needs the second lease live.
func testStaleAckLeased(e *env, c *keyq.Client, first, second *keyq.Lease) {
	e.wantLost("stale Ack", c.Ack(e.ctx, first, keyq.WithAnswer("stale")))
	e.wantLost("stale Release", c.Release(e.ctx, first))
	e.wantLost("stale Extend", c.Extend(e.ctx, first, e.u(1)))
	if ok, _ := c.Exists(e.ctx, "a"); ok {
		e.Fatal("a stale ack stored its answer")
	}
	e.wantQueue(c, "q", keyq.QueueStats{Leased: 1})
	e.ack(c, second, keyq.WithAnswer("fresh"))
	var got string
	if a, err := c.Answer(e.ctx, "a"); err != nil || a.Decode(&got) != nil || got != "fresh" {
		e.Fatalf("answer %q, %v; want the live delivery's", got, err)
	}
}

func testLeaseEndsOnce(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	l := e.next(c)
	e.ack(c, l)
	e.wantLost("second Ack", c.Ack(e.ctx, l))
	e.wantLost("Release after Ack", c.Release(e.ctx, l))
	e.enqueue(c, "q", "b")
	l = e.next(c)
	e.release(c, l)
	e.wantLost("Ack after Release", c.Ack(e.ctx, l))
	other := e.enqueue(c, "q", "c")
	l = e.nextPayload(c, "b") // live
	forged := *l
	forged.Token = "no-such-token"
	e.wantLost("Ack with a forged token", c.Ack(e.ctx, &forged))
	forged = *l
	forged.ID = other // a real task, but not this lease's
	e.wantLost("Ack with another task's ID", c.Ack(e.ctx, &forged))
	e.wantLost("Release with another task's ID", c.Release(e.ctx, &forged))
	e.wantQueue(c, "q", keyq.QueueStats{Waiting: 1, Leased: 1})
	e.ack(c, l)
}

func testDeadLetter(e *env) {
	c := e.client(keyq.MaxAttempts(3))
	id := e.enqueue(c, "q", "doomed")
	for i := range 3 {
		l := e.nextPayload(c, "doomed")
		if l.Attempt != i {
			e.Fatalf("attempt %d, want %d", l.Attempt, i)
		}
		e.release(c, l, keyq.Because(errors.New("boom")))
	}
	e.none(c)
	dead, err := c.Dead(e.ctx, 0, 10)
	if err != nil || len(dead) != 1 || dead[0].ID != id || dead[0].Reason != "boom" || string(dead[0].Payload) != "doomed" || dead[0].Queue != "q" {
		e.Fatalf("Dead = %+v, %v; want the task with reason boom", dead, err)
	}
	st := e.stats(c, "q")
	if st.Queues["q"] != (keyq.QueueStats{Dead: 1}) || st.Counters.Dead != 1 {
		e.Fatalf("stats %+v", st)
	}
	e.enqueue(c, "q", "now")
	e.release(c, e.next(c), keyq.DeadLetter(), keyq.Because(errors.New("unknown type")))
	if dead, _ = c.Dead(e.ctx, 1, 10); len(dead) != 1 || dead[0].Reason != "unknown type" || dead[0].Attempt != 0 {
		e.Fatalf("Dead = %+v; want the task dead-lettered at once", dead)
	}
	e.enqueue(c, "q", "no reason")
	e.release(c, e.next(c), keyq.DeadLetter())
	if dead, _ = c.Dead(e.ctx, 2, 10); len(dead) != 1 || dead[0].Reason != "dead-lettered" {
		e.Fatalf("Dead = %+v; want the reason \"dead-lettered\" when none is given", dead)
	}
}

func testDeadByReclaim(e *env) {
	c := e.client(keyq.MaxAttempts(1))
	e.enqueue(c, "q", "a")
	e.next(c, keyq.LeaseFor(e.u(1)))
	e.advance(2)
	e.none(c)
	dead, err := c.Dead(e.ctx, 0, 10)
	if err != nil || len(dead) != 1 || dead[0].Reason != "lease expired" {
		e.Fatalf("Dead = %+v, %v; want the task, reason \"lease expired\"", dead, err)
	}
}

func testDeadRequeuePurge(e *env) {
	c := e.client(keyq.MaxAttempts(1))
	var ids []string
	for _, p := range []string{"a", "b", "c"} {
		ids = append(ids, e.enqueue(c, "q", p))
		e.release(c, e.next(c))
	}
	e.enqueue(c, "q", "live")
	if n, err := c.RequeueDead(e.ctx, ids[1], "no-such-id"); err != nil || n != 1 {
		e.Fatalf("RequeueDead = %d, %v; want 1", n, err)
	}
	l := e.nextPayload(c, "live")
	e.ack(c, l)
	if l = e.nextPayload(c, "b"); l.Attempt != 0 {
		e.Fatalf("requeued task attempt %d, want 0", l.Attempt)
	}
	e.ack(c, l)
	if n, err := c.PurgeDead(e.ctx, ids[0]); err != nil || n != 1 {
		e.Fatalf("PurgeDead = %d, %v; want 1", n, err)
	}
	if dead, _ := c.Dead(e.ctx, 0, 10); len(dead) != 1 || dead[0].ID != ids[2] {
		e.Fatalf("Dead = %+v; want only %s", dead, ids[2])
	}
	if n, err := c.PurgeAllDead(e.ctx); err != nil || n != 1 {
		e.Fatalf("PurgeAllDead = %d, %v", n, err)
	}
	e.wantQueue(c, "q", keyq.QueueStats{})
}
