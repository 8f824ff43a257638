package keyq

import (
	"context"
	"sync"

	"github.com/keyq/keyq/backend"
)

// Group commit of the worker's acks (WorkerAckBatches).
//
// A handler goroutine that acks builds its ack, answer encoded, hands it to the
// acker and returns: its handler slot is free for the next task at once, as in
// River's completer. The acker settles the delivery (outcome, counters, the
// OnDone hook) when the call that carried its ack returns, with what one Ack per
// task would give. An acker goroutine takes the first ack that waits, drains
// whatever else is already queued, without waiting for more, and sends it all in
// one call: a lone ack goes out at once, and while calls are in flight the next
// batch gathers. At most maxAckBatch acks wait; a handler that finds the queue
// full waits, holding its slot, so a worker never runs far ahead of its acks.

// maxAckBatch bounds one batch and the queue of acks waiting: on Redis one script
// runs a whole batch on the server's single thread, and other clients wait
// meanwhile.
const maxAckBatch = 1000

// ackReq is one lease a handler goroutine wants acked, and what settles it.
type ackReq struct {
	p    backend.AckParams
	done func(ackRes) // called by the acker with the result
}

// ackRes is the result of one ack: item is what Ack would have returned for the
// lease; call, when not nil, is the failure of the whole batch it went in, after
// which the lease may or may not have been acked.
type ackRes struct {
	item, call error
}

// err is the error that settles the delivery.
func (r ackRes) err() error {
	if r.call != nil {
		return r.call
	}
	return r.item
}

// acker coalesces the acks of a worker's handlers into batch calls.
type acker struct {
	c       *Client
	callers int // calls in flight, one per acker goroutine
	reqs    chan *ackReq
	wg      sync.WaitGroup
}

// newAcker returns an acker for a worker, or nil when the worker acks one lease
// per call, on the handler's goroutine: when batching is off, and when the backend
// has no backend.BatchAcker (it would ack a batch one lease at a time, and one
// failed call would fail the whole batch).
func newAcker(c *Client, cfg *workerConfig) *acker {
	if _, ok := c.Backend().(backend.BatchAcker); !ok || cfg.ackBatches < 1 {
		return nil
	}
	return &acker{
		c:       c,
		callers: cfg.ackBatches,
		reqs:    make(chan *ackReq, maxAckBatch),
	}
}

// start runs the acker goroutines; their calls use ctx.
func (a *acker) start(ctx context.Context) {
	for range a.callers {
		a.wg.Add(1)
		go a.run(ctx)
	}
}

// stop waits until every ack has been sent, answered and settled, and the acker
// goroutines have exited. No ack may be submitted after stop is called.
func (a *acker) stop() {
	close(a.reqs)
	a.wg.Wait()
}

// queued reports how many acks wait for an acker goroutine.
func (a *acker) queued() int { return len(a.reqs) }

// ack queues p for the next batch, waiting while the queue is full; done gets
// its result on an acker goroutine.
func (a *acker) ack(p backend.AckParams, done func(ackRes)) {
	a.reqs <- &ackReq{p: p, done: done}
}

// run sends batches until the acker stops.
func (a *acker) run(ctx context.Context) {
	defer a.wg.Done()
	batch := make([]*ackReq, 0, maxAckBatch)
	ps := make([]backend.AckParams, 0, maxAckBatch)
	for r := range a.reqs {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < maxAckBatch {
			select {
			case r, ok := <-a.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		ps = ps[:0]
		for _, r := range batch {
			ps = append(ps, r.p)
		}
		errs, err := a.c.ackBatch(ctx, ps)
		for i, r := range batch {
			if err != nil {
				r.done(ackRes{call: err})
			} else {
				r.done(ackRes{item: errs[i]})
			}
		}
		clear(batch) // hold no lease or answer until the next batch
		clear(ps)
	}
}

// ackLease acks d's lease with opts and calls done with the result: through the
// acker when there is one, else in a call of its own before it returns. With an
// acker, an answer that does not encode is returned, an ErrInvalid, and done is
// not called; without one, done gets it as Ack returns it.
func (w *Worker) ackLease(ctx context.Context, d *delivery, done func(ackRes), opts ...AckOption) error {
	if w.acks == nil {
		done(ackRes{item: w.c.Ack(ctx, &d.lease, opts...)})
		return nil
	}
	// Encode the answer here, on the handler's goroutine, not the acker's.
	p, err := w.c.ackParams(&d.lease, opts)
	if err != nil {
		return w.c.wrap("ack", err)
	}
	w.acks.ack(p, done)
	return nil
}
