package keyq

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
)

// keeper is a worker's heartbeat: one goroutine that, while the worker holds
// leases, extends every live one in one Extend call (in chunks of MaxCount) every
// third of the lease, on the worker's clock. A lease the backend reports lost is
// marked so, and its handler's context, if it runs, is cancelled with cause
// ErrLeaseLost, or ErrCancelled when the backend reports the task cancelled
// (worker_cancel.go). Its timer exists only while the worker holds leases.
type keeper struct {
	w     *Worker
	every time.Duration
	kick  chan struct{} // the timer changed
	done  chan struct{} // closed when run has returned

	mu    sync.Mutex
	live  map[*delivery]struct{}
	held  map[string]*delivery // every delivery until its outcome, by task ID
	timer clock.Timer          // nil while no lease is held, or a beat runs
}

func newKeeper(w *Worker) *keeper {
	return &keeper{
		w:     w,
		every: max(w.cfg.lease/3, time.Millisecond),
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		live:  make(map[*delivery]struct{}),
		held:  make(map[string]*delivery),
	}
}

// add starts keeping ds alive.
func (k *keeper) add(ds []*delivery) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, d := range ds {
		k.live[d] = struct{}{}
		k.held[d.lease.ID] = d
	}
	if k.timer == nil && len(k.live) > 0 {
		k.timer = k.w.cfg.clock.NewTimer(k.every)
		select {
		case k.kick <- struct{}{}:
		default:
		}
	}
}

// remove stops keeping d alive.
func (k *keeper) remove(d *delivery) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.live, d)
	if len(k.live) == 0 && k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
}

// started gives d's handler context's cancel to the keeper, which calls it when
// the lease is lost, at once if it already was.
func (k *keeper) started(d *delivery, cancel context.CancelCauseFunc) {
	k.mu.Lock()
	defer k.mu.Unlock()
	d.cancel = cancel
	if d.lost.Load() {
		_, cause := d.ended(nil)
		cancel(cause)
	}
}

// run beats until stop is closed; its calls use ctx.
func (k *keeper) run(ctx context.Context, stop <-chan struct{}) {
	defer close(k.done)
	for {
		k.mu.Lock()
		t := k.timer
		var tc <-chan time.Time
		if t != nil {
			tc = t.C()
		}
		k.mu.Unlock()
		select {
		case <-k.kick:
			continue
		case <-stop:
			k.mu.Lock()
			if k.timer != nil {
				k.timer.Stop()
				k.timer = nil
			}
			k.mu.Unlock()
			return
		case <-tc:
		}
		k.mu.Lock()
		if k.timer != t { // stopped, and another made, after it fired
			k.mu.Unlock()
			continue
		}
		k.timer = nil
		ds := make([]*delivery, 0, len(k.live))
		for d := range k.live {
			ds = append(ds, d)
		}
		k.mu.Unlock()
		next := k.beat(ctx, ds)
		k.mu.Lock()
		if k.timer == nil && len(k.live) > 0 {
			k.timer = k.w.cfg.clock.NewTimer(next)
		}
		k.mu.Unlock()
	}
}

// beat extends the leases of ds and returns when to beat next: a third of the
// lease, or a third of that after a failed call.
func (k *keeper) beat(ctx context.Context, ds []*delivery) time.Duration {
	next := k.every
	for chunk := range slices.Chunk(ds, MaxCount) {
		refs := make([]backend.LeaseRef, len(chunk))
		for i, d := range chunk {
			refs[i] = backend.LeaseRef{TaskID: d.lease.ID, Token: d.lease.Token}
		}
		at, err := k.w.c.extend(ctx, refs, k.w.cfg.lease)
		if at == nil {
			k.w.log.Warn("keyq worker: lease extension failed", "leases", len(refs), "err", err)
			next = max(k.every/3, time.Millisecond)
			continue
		}
		k.mu.Lock()
		for i, r := range at {
			d := chunk[i]
			if r.Cancelled {
				d.cancelled.Store(true) // for its outcome, even once its handler returned
			}
			if _, held := k.live[d]; !r.Deadline.IsZero() || !held {
				continue // extended, or settled meanwhile
			}
			if !r.Cancelled {
				k.w.log.Warn("keyq worker: lease lost", "task", d.lease.ID, "queue", d.lease.Queue)
			}
			k.endLocked(d)
		}
		k.mu.Unlock()
	}
	return next
}
