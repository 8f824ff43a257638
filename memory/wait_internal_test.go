package memory

import "testing"

// A waiter woken for a queue that then leaves (its context ended) hands the wake-up
// to the next waiter of that queue; one that stays to try again keeps it.
func TestUnparkPassesWakeUpOn(t *testing.T) {
	ns := newNamespace("ns")
	first, _ := ns.park([]string{"q"})
	second, _ := ns.park([]string{"other", "q"})
	ns.wake("q")
	if !first.woken || second.woken {
		t.Fatalf("wake(q) woke first=%v second=%v; want the first waiter only", first.woken, second.woken)
	}
	ns.unpark(first, true)
	if !second.woken || second.reason != "q" || len(second.wake) != 1 {
		t.Fatalf("the leaving waiter did not pass its wake-up on: %+v", second)
	}
	third, _ := ns.park([]string{"q"})
	ns.unpark(second, false) // stays: it will take the task itself
	if third.woken {
		t.Fatal("a waiter that tries again passed its wake-up on as well")
	}
	ns.unpark(third, true)
	if len(ns.waiters) != 0 {
		t.Fatalf("%d waiters left registered", len(ns.waiters))
	}
}
