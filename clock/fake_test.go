package clock

import (
	"context"
	"testing"
	"time"
)

func fired(tm Timer) bool {
	select {
	case <-tm.C():
		return true
	default:
		return false
	}
}

func TestFakeTimers(t *testing.T) {
	start := time.Unix(100, 0)
	f := NewFake(start)
	a := f.NewTimer(2 * time.Second)
	b := f.TimerAt(start.Add(5 * time.Second))
	c := f.NewTimer(3 * time.Second)
	if !c.Stop() || c.Stop() {
		t.Fatal("Stop of a waiting timer must report true once")
	}
	if err := f.WaitTimers(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	f.Advance(2 * time.Second)
	if !fired(a) || fired(b) || fired(c) {
		t.Fatal("after 2s only the 2s timer may fire")
	}
	f.Advance(-time.Hour)
	if !f.Now().Equal(start.Add(2 * time.Second)) {
		t.Fatalf("a negative Advance moved the clock to %v", f.Now())
	}
	f.Set(start.Add(5 * time.Second))
	if !fired(b) || f.Timers() != 0 {
		t.Fatal("TimerAt did not fire when the clock reached its time")
	}
	if !fired(f.TimerAt(start)) || !fired(f.NewTimer(0)) {
		t.Fatal("a timer for a time already reached must fire at once")
	}
}
