package keyq

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
)

// How a worker learns that a task it holds was cancelled by ID (S12.4).
//
// The store ends the lease at once; the worker has to stop the handler. Two
// ways tell it, whichever comes first:
//   - fast: for its whole run, the worker is a listener of the driver's
//     Notifier, which sends Wake{Cancelled: id} when a cancel ends the lease of
//     task id. The registration is one entry in the driver's list (the Redis
//     driver shares one Pub/Sub connection among all listeners of a Backend):
//     with no traffic it costs nothing, and each Wake costs one comparison
//     unless it is a cancel;
//   - at the latest: the heartbeat, whose Extend reports the lease Cancelled.
//
// Either way the delivery is marked cancelled and lost, and its handler's
// context, if it runs, is cancelled with the cause ErrCancelled. The worker
// then settles nothing (the lease is gone in the store) and reports
// OutcomeCancelled. A cancel heard after the handler returned, while its ack or
// retry is on its way, turns the SettleLost the store answers into
// OutcomeCancelled too; one the worker hears of only after that answer is
// reported as OutcomeLost, the store's cancel being then indistinguishable
// from a lost lease.

// ended returns the outcome of a delivery whose lease ended, with err, the
// handler's error if any, joined to its cause: OutcomeCancelled and
// ErrCancelled for a cancel, else OutcomeLost and ErrLeaseLost.
func (d *delivery) ended(err error) (Outcome, error) {
	if d.cancelled.Load() {
		return OutcomeCancelled, errors.Join(ErrCancelled, err)
	}
	return OutcomeLost, errors.Join(ErrLeaseLost, err)
}

// endLocked ends the lease of d, which the worker keeps alive: it marks d
// lost and cancels its handler, if it runs, with d's cause. k.mu must be held.
func (k *keeper) endLocked(d *delivery) {
	delete(k.live, d)
	d.lost.Store(true)
	if d.cancel != nil {
		_, cause := d.ended(nil)
		d.cancel(cause)
	}
	if len(k.live) == 0 && k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
}

// forget drops d, whose outcome is known, from the deliveries a cancel can
// reach.
func (k *keeper) forget(d *delivery) {
	k.mu.Lock()
	if k.held[d.lease.ID] == d {
		delete(k.held, d.lease.ID)
	}
	k.mu.Unlock()
}

// onWake is the worker's Notify listener: it acts on Wake{Cancelled: id} alone.
// It runs inside the driver, which it must not call; it takes k.mu, under which
// the keeper never calls the driver.
func (k *keeper) onWake(wk backend.Wake) {
	if wk.Cancelled == "" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	d := k.held[wk.Cancelled]
	if d == nil {
		return
	}
	d.cancelled.Store(true)
	if _, live := k.live[d]; live {
		k.endLocked(d)
	}
}

// listenWait bounds how long Run waits for the worker's first Notify
// registration before it takes tasks: a cancel made before the registration is
// live reaches the worker only through its heartbeat.
const listenWait = time.Second

// listenCancels registers the worker's Notify listener, when the driver has a
// Notifier, on a goroutine of its own, trying again with backoff while the
// registration fails, and waits until the first try ended, at most
// listenWait, or until the worker stops (a stop, or the end of runCtx). It
// returns the function that ends the registration, which Run calls once
// nothing is held.
func (w *Worker) listenCancels(runCtx context.Context) (stop func()) {
	n, ok := w.c.h.(backend.Notifier)
	if !ok {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	tried := make(chan struct{})
	var unregister func() // set before done is closed
	go func() {
		defer close(done)
		once := sync.OnceFunc(func() { close(tried) })
		defer once()
		for fails := 0; ; fails++ {
			s, err := n.Notify(ctx, w.keep.onWake)
			once()
			if err == nil && s != nil {
				unregister = s
				return
			}
			if err == nil {
				err = malformed("Notify returned no stop function")
			}
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			// The retry is on the host's clock: the worker's may be a test's
			// fake one, whose timers the test counts.
			d := backoffStep(fails, time.Second, time.Minute)
			w.log.Warn("keyq worker: cannot listen for cancels; the heartbeat finds them", "err", err, "retry_in", d)
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	}()
	wait := time.NewTimer(listenWait) // the host's clock: the worker's may be a test's
	select {
	case <-tried:
	case <-wait.C:
	case <-w.stop:
	case <-runCtx.Done():
	}
	wait.Stop()
	return func() {
		cancel()
		<-done
		if unregister != nil {
			unregister()
		}
	}
}

// settleEnded records the outcome of d, whose lease ended, with err, the
// handler's error if any: it settles nothing.
func (w *Worker) settleEnded(d *delivery, err error) {
	o, err := d.ended(err)
	w.settled(d, o, err)
}
