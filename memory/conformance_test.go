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
