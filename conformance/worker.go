package conformance

import (
	"context"
	"sync"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
)

// outcome is one delivery a worker of a test finished with.
type outcome struct {
	task keyq.Task
	o    keyq.Outcome
	err  error
}

// worker runs a worker of c with cfg, its clock clk and handler h for the
// tasks of every type, until the test ends, and returns its outcomes.
func (e *env) worker(c *keyq.Client, clk clock.Clock, cfg keyq.WorkerConfig, h keyq.HandlerFunc) <-chan outcome {
	e.Helper()
	out := make(chan outcome, 64)
	ctx, cancel := context.WithCancel(e.ctx)
	cfg.Clock = clk
	cfg.OnDone = func(t *keyq.Task, o keyq.Outcome, err error) {
		select {
		case out <- outcome{*t, o, err}:
		case <-ctx.Done():
		}
	}
	w, err := keyq.NewWorker(c, cfg)
	if err != nil {
		cancel()
		e.Fatalf("NewWorker: %v", err)
	}
	w.Handle("", h)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil {
			e.Errorf("worker Run: %v", err)
		}
	}()
	e.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return out
}

// outcomeOf waits for a worker's next outcome and checks it is want.
func (e *env) outcomeOf(out <-chan outcome, want keyq.Outcome) outcome {
	e.Helper()
	o := receive(e, out, "the worker's outcome "+string(want))
	if o.o != want {
		e.Fatalf("worker outcome %s (error %v) for task %s, want %s", o.o, o.err, o.task.ID, want)
	}
	return o
}
