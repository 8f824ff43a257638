// Package keyqtest helps test code that uses keyq: a client on the memory backend
// with a clock the test moves, an assertion on what was enqueued, and helpers
// that run the application's handlers on its tasks, one task or until a queue is
// empty, and report what became of each.
//
//	func TestSignup(t *testing.T) {
//		c, clk := keyqtest.New(t, keyq.WithQueues("mail"))
//		signup(ctx, c, "ann@example.com") // the code under test enqueues
//		keyqtest.RequireEnqueued(t, c, "mail", keyqtest.HasType("welcome"))
//		r := keyqtest.WorkOne(t, c, "mail", mailer)
//		if r.Outcome != keyq.OutcomeFinished { ... }
//		clk.Advance(24 * time.Hour) // answers, delays and leases age on clk
//	}
package keyqtest

import (
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

// Epoch is the time the clock of New reads at first.
var Epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Namespace is the namespace of the clients New returns.
const Namespace = "keyqtest"

// New returns a client on a fresh memory backend, whose clock is a fake that
// reads Epoch until the test moves it, and that clock. Delays, leases, answer
// TTLs and job records age only as the clock is moved; a Worker or Scheduler on
// the client waits on it too. The backend is closed when tb's test ends. Bad
// options fail tb.
func New(tb testing.TB, opts ...keyq.Option) (*keyq.Client, *clock.Fake) {
	tb.Helper()
	clk := clock.NewFake(Epoch)
	b := memory.New(memory.WithClock(clk))
	tb.Cleanup(func() { b.Close() })
	c, err := keyq.New(b, Namespace, opts...)
	if err != nil {
		tb.Fatalf("keyqtest: %v", err)
		return nil, clk
	}
	return c, clk
}
