package conformance

import (
	"time"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S7.2 driver: an empty Dequeue's Next says when a delayed task is due", fn: testDriverNextDelayed, driver: true},
		test{name: "S4.5 driver: an empty Dequeue's Next says when a lease ends, and its task comes back", fn: testDriverNextLease, driver: true},
	)
}

// wantNext checks the Next of an empty Dequeue made between after mark and at
// read, for an event due d after mark: it is positive, at most d (rounded up to
// the millisecond, plus the millisecond by which S7.4 lets a delay or lease be
// longer), and at least what was left of d when the Dequeue returned.
func (e *env) wantNext(r backend.DequeueResult, mark, read time.Time, d time.Duration, what string) {
	e.Helper()
	if len(r.Leases) != 0 {
		e.Fatalf("Dequeue before %s delivered %q, want nothing", what, payloads(r.Leases))
	}
	e.within(mark, 2, what, func() {
		if lo, hi := d-read.Sub(mark)-time.Millisecond, backend.RoundUp(d)+time.Millisecond; r.Next <= 0 || r.Next < lo || r.Next > hi {
			e.Fatalf("Dequeue's Next = %v; want in [%v, %v]: when %s", r.Next, max(lo, time.Millisecond), hi, what)
		}
	})
}

// testDriverNextDelayed: with nothing stored, an empty Dequeue's Next is 0; with a
// task delayed by 10 units, it is the time left until the task is due, which a
// Dequeue then delivers.
func testDriverNextDelayed(e *env) {
	h := e.handle()
	if r := e.take(h, backend.DequeueParams{}); len(r.Leases) != 0 || r.Next != 0 {
		e.Fatalf("Dequeue of an empty namespace: %d leases, Next %v; want none, Next 0", len(r.Leases), r.Next)
	}
	mark := e.mark()
	e.put(h, backend.EnqueueParams{Queue: "q", Delay: e.u(10)}, "later")
	r := e.take(h, backend.DequeueParams{Queues: []string{"other", "q"}})
	e.wantNext(r, mark, e.mark(), e.u(10), "the delayed task is due")
	e.advance(10)
	e.takePayloads(h, []string{"q"}, "later")
}

// testDriverNextLease: with a task leased for 3 units and another delayed by 50,
// an empty Dequeue's Next is the time left on the lease. Once it has passed, the
// next Dequeue delivers the task again, its attempt count one higher, without any
// other call (S4.5).
func testDriverNextLease(e *env) {
	h := e.handle()
	e.put(h, backend.EnqueueParams{Queue: "q"}, "a")
	mark := e.mark()
	first := e.take(h, backend.DequeueParams{Lease: e.u(3)}).Leases
	if len(first) != 1 {
		e.Fatal("Dequeue delivered nothing, want the task")
	}
	e.put(h, backend.EnqueueParams{Queue: "q", Delay: e.u(50)}, "later")
	r := e.take(h, backend.DequeueParams{})
	e.wantNext(r, mark, e.mark(), e.u(3), "the lease ends")
	e.advance(4)
	again := e.takePayloads(h, []string{"q"}, "a")[0]
	if again.ID != first[0].ID || again.Attempt != 1 {
		e.Fatalf("after the lease ended: task %s attempt %d; want %s again with attempt 1", again.ID, again.Attempt, first[0].ID)
	}
}
