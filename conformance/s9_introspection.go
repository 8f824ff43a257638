package conformance

import (
	"slices"

	"github.com/google/go-cmp/cmp"
	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S9.1 Len counts waiting tasks; leased, delayed and dead apart", fn: testLen},
		test{name: "S9.2 namespace counters", fn: testCounters},
		test{name: "S9.3 peek, leases and dead lists change nothing", fn: testPeek},
	)
}

func testLen(e *env) {
	c := e.client(keyq.Queues("a", "b"), keyq.MaxAttempts(1))
	for _, p := range []string{"a1", "a2", "a3", "a4"} {
		e.enqueue(c, "a", p)
	}
	e.enqueue(c, "b", "b1")
	delayed := e.mark()
	e.enqueue(c, "b", "b2", keyq.Delay(e.u(5)))
	e.within(delayed, 5, "the delayed enqueue and the looks before it is due", func() { testLenDelayed(e, c) })
}

// testLenDelayed is the part of testLen that needs the delayed task still delayed.
func testLenDelayed(e *env, c *keyq.Client) {
	e.next(c)                           // a1 leased
	e.release(c, e.next(c))             // a2 dead
	e.enqueue(c, "other ns queue", "x") // seen, so listed
	if n, err := c.Len(e.ctx, "a"); err != nil || n != 2 {
		e.Fatalf("Len(a) = %d, %v; want 2", n, err)
	}
	want := map[string]keyq.QueueStats{
		"a":              {Waiting: 2, Leased: 1, Dead: 1},
		"b":              {Waiting: 1, Delayed: 1},
		"other ns queue": {Waiting: 1},
	}
	if diff := cmp.Diff(want, e.stats(c).Queues); diff != "" {
		e.Fatalf("Stats() of every queue (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, e.stats(c, []string{}...).Queues); diff != "" {
		e.Fatalf("Stats with an empty list (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]keyq.QueueStats{"b": want["b"], "none": {}}, e.stats(c, "b", "none").Queues); diff != "" {
		e.Fatalf("Stats(b, none) (-want +got):\n%s", diff)
	}
	other := e.clientOf(e.ns + "-other")
	if st := e.stats(other); len(st.Queues) != 0 || st.Counters != (keyq.Counters{}) {
		e.Fatalf("another namespace sees %+v", st)
	}
}

func testCounters(e *env) {
	c := e.client(keyq.MaxAttempts(2))
	for _, p := range []string{"a", "b", "c", "d"} {
		e.enqueue(c, "q", p)
	}
	if err := c.SetAnswer(e.ctx, "d", 1); err != nil {
		e.Fatal(err)
	}
	e.ack(c, e.nextPayload(c, "a"))              // delivered 1, acked 1
	e.release(c, e.nextPayload(c, "b"))          // delivered 2, released 1
	e.release(c, e.nextPayload(c, "b"))          // delivered 3, released 2, dead 1
	e.nextPayload(c, "c", keyq.LeaseFor(e.u(1))) // delivered 4
	e.advance(2)                                 // c reclaimed 1
	e.ack(c, e.nextPayload(c, "c"))              // delivered 5, acked 2
	e.none(c)                                    // d deduped 1
	want := keyq.Counters{Enqueued: 4, Delivered: 5, Acked: 2, Released: 2, Reclaimed: 1, Deduped: 1, Dead: 1}
	if got := e.stats(c).Counters; got != want {
		e.Fatalf("counters %+v, want %+v", got, want)
	}
}

func testPeek(e *env) {
	c := e.client(keyq.MaxAttempts(1))
	ids := []string{e.enqueue(c, "q", "a"), e.enqueue(c, "q", "b"), e.enqueue(c, "q", "x"), e.enqueue(c, "q", "c"), e.enqueue(c, "q", "d")}
	l1 := e.next(c, keyq.LeaseFor(e.u(9)))
	leased := e.mark()
	l2 := e.next(c, keyq.LeaseFor(e.u(3)))
	l3 := e.next(c, keyq.LeaseFor(e.u(6))) // deadlines in neither token order
	e.within(leased, 3, "the leases and the looks inside the shortest", func() { testPeekLeased(e, c, ids, l1, l2, l3) })
	e.nextPayload(c, "d")
}

// testPeekLeased is the part of testPeek that needs every lease still live.
func testPeekLeased(e *env, c *keyq.Client, ids []string, l1, l2, l3 *keyq.Lease) {
	e.enqueue(c, "q", "e")
	e.release(c, e.nextPayload(c, "c"))
	before := e.stats(c)
	tasks, err := c.Peek(e.ctx, "q", 0, 10)
	if err != nil {
		e.Fatal(err)
	}
	var got []string
	for _, t := range tasks {
		got = append(got, string(t.Payload))
	}
	if !slices.Equal(got, []string{"d", "e"}) || tasks[0].ID != ids[4] {
		e.Fatalf("Peek = %v, want [d e]", got)
	}
	for i := range tasks[0].Payload { // scribbling on a peeked payload changes nothing stored
		tasks[0].Payload[i] = '!'
	}
	if tasks, _ = c.Peek(e.ctx, "q", 1, 10); len(tasks) != 1 || string(tasks[0].Payload) != "e" {
		e.Fatalf("Peek from offset 1 = %v", tasks)
	}
	if tasks, _ = c.Peek(e.ctx, "q", 5, 10); len(tasks) != 0 {
		e.Fatalf("Peek past the end = %v", tasks)
	}
	leases, err := c.Leases(e.ctx, 10)
	var order []string
	for _, l := range leases {
		order = append(order, l.Token)
	}
	if want := []string{l2.Token, l3.Token, l1.Token}; err != nil || !slices.Equal(order, want) || !leases[0].Deadline.Equal(l2.Deadline) {
		e.Fatalf("Leases in token order %v, %v; want %v, earliest deadline first", order, err, want)
	}
	if leases, _ = c.Leases(e.ctx, 1); len(leases) != 1 {
		e.Fatalf("Leases(1) returned %d", len(leases))
	}
	dead, err := c.Dead(e.ctx, 0, 10)
	if err != nil || len(dead) != 1 || dead[0].ID != ids[3] {
		e.Fatalf("Dead = %+v, %v", dead, err)
	}
	if diff := cmp.Diff(before, e.stats(c)); diff != "" {
		e.Fatalf("looking changed the namespace (-before +after):\n%s", diff)
	}
}
