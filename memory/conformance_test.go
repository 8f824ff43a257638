package memory_test

import (
	"testing"
	"time"

	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/conformance"
	"github.com/keyq/keyq/memory"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		// A clock far from the host's shows that nothing reads the host's time.
		clk := clock.NewFake(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
		b := memory.New(memory.WithClock(clk))
		return conformance.Target{Backend: b, Now: clk.Now, Advance: clk.Advance, Waiting: b.Waiting}
	}))
}

// TestConformanceRealTime runs the suite on the host's clock, as a remote backend
// would: Advance sleeps. It keeps the suite honest for harnesses without a fake clock.
func TestConformanceRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps through the suite's time steps; -short skips it")
	}
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		b := memory.New()
		return conformance.Target{Backend: b, Now: time.Now, Advance: time.Sleep, Unit: 200 * time.Millisecond, Waiting: b.Waiting}
	}))
}
