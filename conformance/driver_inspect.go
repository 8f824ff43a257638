package conformance

import (
	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S9.5 driver: inspection reports what housekeeping would find, and does none", fn: testDriverInspectReads, driver: true},
	)
}

// testDriverInspectReads lets a lease expire and a delayed task fall due, then
// inspects the namespace twice: Stats counts both as waiting, Leases does not list
// the expired lease, and nothing is reclaimed (the counters say so) until a call
// that writes, a Dequeue, runs housekeeping.
func testDriverInspectReads(e *env) {
	h := e.handle()
	in, ok := h.(backend.Inspector)
	if !ok {
		e.Skip("optional: the driver does not implement backend.Inspector")
	}
	e.put(h, backend.EnqueueParams{Queue: "q"}, "leased")
	e.take(h, backend.DequeueParams{Lease: e.u(2)})
	e.put(h, backend.EnqueueParams{Queue: "q", Delay: e.u(2)}, "delayed")
	e.advance(3)
	first := e.snap(h)
	if got, want := first.Stats.Queues["q"], (backend.QueueStats{Waiting: 2}); got != want {
		e.Fatalf("Stats of q with an expired lease and a due delayed task: %+v, want %+v", got, want)
	}
	if len(first.Leases) != 0 {
		e.Fatalf("Leases lists %+v, whose deadline has passed", first.Leases)
	}
	if c := first.Stats.Counters; c.Reclaimed != 0 || c.Delivered != 1 {
		e.Fatalf("counters after inspection alone: %+v; want 1 delivered, none reclaimed", c)
	}
	e.wantUnchanged("a second inspection", h, first)
	e.takePayloads(h, []string{"q"}, "leased", "delayed") // due tasks first, then reclaimed leases, each to the head
	st, err := in.Stats(e.ctx, backend.StatsParams{Queues: []string{"q"}})
	if err != nil {
		e.Fatal(err)
	}
	if st.Counters.Reclaimed != 1 {
		e.Fatalf("counters after a Dequeue: %+v; want the expired lease reclaimed", st.Counters)
	}
}
