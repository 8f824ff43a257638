package conformance

import (
	"errors"
	"strings"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S9.5 a call that needs a capability the driver lacks is errors.ErrUnsupported", fn: testUnsupported},
		test{name: "S3.4 without a Notifier a waiting consumer finds a task by polling", fn: testWaitWithoutNotifier},
	)
}

// bare is the target's backend with every optional interface hidden: its
// handles have the six required methods alone, and it has no NamespaceLister
// or Clocked. It is a driver that implements the contract's minimum.
type bare struct{ backend.Backend }

func (b bare) Namespace(name string) (backend.Namespace, error) {
	h, err := b.Backend.Namespace(name)
	if err != nil {
		return nil, err
	}
	return bareNamespace{h}, nil
}

type bareNamespace struct{ backend.Namespace }

// bareClient returns a client of the test's namespace on the bare backend.
func (e *env) bareClient() *keyq.Client {
	e.Helper()
	c, err := keyq.New(bare{e.tg.Backend}, e.ns, keyq.Queues("q"), keyq.OpTimeout(opTimeout))
	if err != nil {
		e.Fatalf("keyq.New on a driver without optional interfaces: %v", err)
	}
	return c
}

// testUnsupported: on a driver without Inspector, Admin, Controller and RateLimiter, the calls
// that need them fail with an error matching errors.ErrUnsupported and no
// sentinel of keyq (ErrInvalid above all), valid input or not; the calls of the
// required interface work.
func testUnsupported(e *env) {
	c := e.bareClient()
	id := e.enqueue(c, "q", "x")
	calls := map[string]func() error{
		"Job":             func() error { _, err := c.Job(e.ctx, id); return err },
		"Stats":           func() error { _, err := c.Stats(e.ctx); return err },
		"Len":             func() error { _, err := c.Len(e.ctx, "q"); return err },
		"Peek":            func() error { _, err := c.Peek(e.ctx, "q", 0, 1); return err },
		"Peek bad input":  func() error { _, err := c.Peek(e.ctx, "", -1, 0); return err },
		"Leases":          func() error { _, err := c.Leases(e.ctx, 1); return err },
		"Dead":            func() error { _, err := c.Dead(e.ctx, 0, 1); return err },
		"Reclaim":         func() error { _, err := c.Reclaim(e.ctx); return err },
		"RequeueDead":     func() error { _, err := c.RequeueDead(e.ctx, "1"); return err },
		"RequeueAllDead":  func() error { _, err := c.RequeueAllDead(e.ctx); return err },
		"PurgeDead":       func() error { _, err := c.PurgeDead(e.ctx, "1"); return err },
		"PurgeAllDead":    func() error { _, err := c.PurgeAllDead(e.ctx); return err },
		"DeleteAnswer":    func() error { return c.DeleteAnswer(e.ctx, "x") },
		"Allow":           func() error { _, err := c.Allow(e.ctx, "r", time.Second, 1); return err },
		"Pause":           func() error { return c.Pause(e.ctx, "q") },
		"Pause bad input": func() error { return c.Pause(e.ctx) },
		"Resume":          func() error { return c.Resume(e.ctx, "q") },
		"Delete":          func() error { return c.Delete(e.ctx, id) },
		"Cancel":          func() error { _, err := c.Cancel(e.ctx, id); return err },
		"Delayed":         func() error { _, err := c.Delayed(e.ctx, "", 0, 1); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, errors.ErrUnsupported) {
			e.Errorf("%s on a driver without the interface it needs: %v, want errors.ErrUnsupported", name, err)
		} else if !strings.Contains(err.Error(), "the backend has no backend.") {
			e.Errorf("%s on a driver without the interface it needs: %q does not name the interface", name, err)
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				e.Errorf("%s on a driver without the interface it needs: %v also matches %v", name, err, s)
			}
		}
	}
	l := e.nextPayload(c, "x")
	e.ack(c, l, keyq.WithAnswer("done"))
	if a := e.answer(c, "x"); string(a.Value) != `"done"` {
		e.Fatalf("answer %s, want \"done\"", a.Value)
	}
}

// testWaitWithoutNotifier: a consumer of a driver without Notifier that waits
// gets a task enqueued after it began to wait, well within its wait.
func testWaitWithoutNotifier(e *env) {
	c := e.bareClient()
	got := e.waitingNext(c, "q")
	e.settle(1)
	e.enqueue(e.client(), "q", "x")
	if l := receive(e, got, "a consumer of a driver without Notifier"); l == nil || string(l.Payload) != "x" {
		e.Fatalf("the waiting consumer got %v, want the task x", l)
	}
}
