package keyq

import (
	"context"
	"errors"
	"sync"

	"github.com/keyq/keyq/backend"
)

// Group commit of the worker's settlements (WorkerConfig.SettleCalls): every outcome of a
// delivery, an ack with its answer, a failure's error answer, a release for a
// retry, a dead-letter or a hand-back, goes to the backend through Settle.
//
// A handler goroutine builds its settlement, answer encoded, hands it to the
// settler and returns: its handler slot is free for the next task at once, as in
// River's completer. A settler goroutine takes the first request that waits,
// drains whatever else is already queued, without waiting for more, and sends it
// all in one Settle call: a lone request goes out at once, and while calls are
// in flight the next batch gathers. Each delivery's outcome is what the backend
// answered for its item (SettleDone, SettleLost, SettleDead), never a guess. At
// most maxSettleBatch requests wait; a handler that finds the queue full waits,
// holding its slot, so a worker never runs far ahead of its settlements.

// maxSettleBatch bounds one batch and the queue of requests waiting: on Redis one
// script runs a whole batch on the server's single thread, and other clients wait
// meanwhile.
const maxSettleBatch = 1000

// settleReq is settlements a worker wants made, in order, in one call, and what
// to do with their results: res is nil when the call failed as a whole, with err,
// after which any item may or may not have been settled.
type settleReq struct {
	items []backend.Settlement
	done  func(res []backend.SettleResult, err error)
}

// settler coalesces a worker's settlements into batch calls.
type settler struct {
	c       *Client
	callers int // calls in flight, one per settler goroutine
	reqs    chan *settleReq
	wg      sync.WaitGroup
}

// newSettler returns a settler for a worker, or nil when batching is off and each
// delivery is settled in a call of its own, on the handler's goroutine.
func newSettler(c *Client, cfg *workerConfig) *settler {
	if cfg.ackBatches < 1 {
		return nil
	}
	return &settler{c: c, callers: cfg.ackBatches, reqs: make(chan *settleReq, maxSettleBatch)}
}

// start runs the settler goroutines; their calls use ctx.
func (s *settler) start(ctx context.Context) {
	for range s.callers {
		s.wg.Add(1)
		go s.run(ctx)
	}
}

// stop waits until every request has been sent, answered and handled, and the
// settler goroutines have exited. Nothing may be submitted after stop is called.
func (s *settler) stop() {
	close(s.reqs)
	s.wg.Wait()
}

// run sends batches until the settler stops.
func (s *settler) run(ctx context.Context) {
	defer s.wg.Done()
	var batch []*settleReq
	var items []backend.Settlement
	var carry *settleReq // taken from the queue, but over the last batch's size
	for {
		r := carry
		carry = nil
		if r == nil {
			var ok bool
			if r, ok = <-s.reqs; !ok {
				return
			}
		}
		batch = append(batch[:0], r)
		n := len(r.items)
	drain:
		for n < maxSettleBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				if n+len(r.items) > maxSettleBatch {
					carry = r
					break drain
				}
				batch, n = append(batch, r), n+len(r.items)
			default:
				break drain
			}
		}
		items = items[:0]
		for _, r := range batch {
			items = append(items, r.items...)
		}
		res, err := s.c.settle(ctx, "settle", items)
		settledBatch(batch, res, err)
		clear(batch) // hold no lease or answer until the next batch
		clear(items)
	}
}

// settledBatch hands each request of batch its share of res, the results of one
// call that settled their items in order, or err when the call failed as a whole
// (res nil).
func settledBatch(batch []*settleReq, res []backend.SettleResult, err error) {
	for _, r := range batch {
		k := len(r.items)
		if res == nil {
			r.done(nil, err)
		} else {
			r.done(res[:k:k], err)
			res = res[k:]
		}
	}
}

// submit settles r: through the settler when there is one, else in a call of its
// own before it returns. With wait, it returns once r.done has returned: a
// release is in the store before the handler's slot frees, so that a task put
// back at the head is the next one fetched.
func (w *Worker) submit(ctx context.Context, r *settleReq, wait bool) {
	if w.settler == nil {
		res, err := w.c.settle(ctx, "settle", r.items)
		r.done(res, err)
		return
	}
	if !wait {
		// With the queues known empty the fetch loop would only pass the ack on:
		// it goes to the settler without waking the loop.
		if w.x == nil || w.c.waits.knownEmpty(w.cfg.queues) > 0 || !w.x.offer(r) {
			w.settler.reqs <- r
		}
		return
	}
	finished := make(chan struct{})
	done := r.done
	r.done = func(res []backend.SettleResult, err error) {
		defer close(finished)
		done(res, err)
	}
	w.settler.reqs <- r
	<-finished
}

// finish settles d with s and records the outcome: o when the backend did as
// asked, OutcomeDead when it dead-lettered the task instead, OutcomeLost when the
// lease had ended, OutcomeError when the call failed. herr is the handler's error.
// An ack returns at once; anything else once it is settled (submit).
func (w *Worker) finish(ctx context.Context, d *delivery, s backend.Settlement, o Outcome, herr error) {
	w.submit(ctx, &settleReq{items: []backend.Settlement{s}, done: func(res []backend.SettleResult, err error) {
		var r backend.SettleResult
		if res != nil {
			r = res[0]
		}
		w.settledAs(d, o, herr, r, err)
	}}, s.Action != backend.Ack)
}

// settledAs records the outcome of d from r, the backend's result for its item,
// or from err, the failure of the whole call when r is 0. An error with a result
// (ErrNotReplicated) joins the outcome's error.
func (w *Worker) settledAs(d *delivery, o Outcome, herr error, r backend.SettleResult, err error) {
	switch r {
	case 0:
		w.log.Warn("keyq worker: settling a task failed; its lease will expire", "task", d.lease.ID, "outcome", o, "err", err)
		w.settled(d, OutcomeError, errors.Join(herr, err))
		return
	case backend.SettleLost:
		o, herr = d.ended(herr)
	case backend.SettleDead:
		o = OutcomeDead
	}
	w.settled(d, o, errors.Join(herr, err))
}
