// Package conformance is the test suite every keyq backend must pass: the rules of
// docs/semantics.md turned into tests, one or more per rule, each named after the
// rule it checks ("S4.2 ...").
//
// The suite has two tiers. The driver tier calls the driver's backend.Namespace
// handles directly, as package keyq does: bad input to every method (S8.10),
// done contexts, odd values, and each storage call's own contract; its tests'
// names say "driver:" after the rule's number. The client tier checks every rule
// through keyq.Client, as an application sees it. Run runs both; RunDriver runs
// the driver tier alone, for a driver that is not yet complete. A test that needs
// an optional interface the driver lacks (Inspector, Admin, Controller,
// Notifier, RateLimiter, NamespaceLister) skips, naming it.
//
// A driver runs the whole suite with a few lines in a _test.go file:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
//			clk := clock.NewFake(time.Unix(1_700_000_000, 0))
//			return conformance.Target{
//				Backend: memory.New(memory.WithClock(clk)),
//				Now:     clk.Now,
//				Advance: clk.Advance,
//			}
//		}))
//	}
package conformance

import (
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// Target is one backend under test, made fresh for one test.
type Target struct {
	// Backend is the driver under test. The suite closes it when the test ends; the
	// harness cleans up anything else it made with t.Cleanup.
	Backend backend.Backend
	// Now reads the backend's clock (for Redis, the server's).
	Now func() time.Time
	// Advance moves the backend's clock forward by d. A harness on real time sleeps.
	Advance func(d time.Duration)
	// Unit is the time step the suite builds its leases, delays and TTLs from. Fake
	// clocks leave it zero (one second); a harness on real time sets it short, such
	// as 200ms, and long enough that a few calls fit comfortably inside one Unit.
	Unit time.Duration
	// Waiting, when set, reports how many consumers are waiting for tasks. Tests use
	// it to know a consumer is waiting before they enqueue; without it they give the
	// consumer a head start instead. Waiting lives in package keyq, so a driver
	// cannot tell: harnesses of drivers leave it nil.
	Waiting func() int
}

// Harness makes targets.
type Harness interface {
	NewTarget(t *testing.T) Target
}

// HarnessFunc adapts a function to Harness.
type HarnessFunc func(t *testing.T) Target

// NewTarget calls f.
func (f HarnessFunc) NewTarget(t *testing.T) Target { return f(t) }
