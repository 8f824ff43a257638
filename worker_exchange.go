package keyq

import (
	"context"
	"errors"
	"sync"

	"github.com/keyq/keyq/backend"
)

// Acks that ride on the next fetch. With a driver that implements
// backend.Exchanger, a worker at its default fetch size (one task per free slot,
// no rate limit) hands its acks to the fetch loop instead of the settler while
// the loop runs: the loop's next call settles them and leases tasks for the free
// slots in one round trip (Client.exchange), as BullMQ's worker finishes a job
// and takes the next in one script. An ack never waits long for that call:
//   - the loop waits for a free slot, which the ack's own handler has just given
//     back;
//   - or it sleeps in a Dequeue wait, which an ack ends at once (with the queues
//     known empty the ack goes to the settler instead, and the loop sleeps on);
//   - or a Dequeue try is in flight, and the loop takes the acks when it returns;
//   - before the refresh hook runs, and when the loop ends, the acks it holds go
//     to the settler.
// Releases and dead-letters, which hold their slot until settled, always go
// through the settler.

// exchanger holds the acks waiting for the fetch loop.
type exchanger struct {
	driver backend.Exchanger
	ready  chan struct{} // holds a signal while acks wait

	mu   sync.Mutex
	open bool // the fetch loop runs and takes acks
	acks []*settleReq
}

// newExchanger returns the worker's exchanger, or nil when its acks go to the
// settler alone: the driver cannot exchange, batching is off, or the fetch size
// is not the free slots.
func newExchanger(c *Client, cfg *workerConfig, limited bool) *exchanger {
	x, ok := c.h.(backend.Exchanger)
	if !ok || cfg.ackBatches < 1 || cfg.batch != 1 || cfg.shared != nil || limited {
		return nil
	}
	return &exchanger{driver: x, ready: make(chan struct{}, 1)}
}

// offer gives r, an ack, to the fetch loop, and reports whether it took it.
func (e *exchanger) offer(r *settleReq) bool {
	e.mu.Lock()
	if !e.open {
		e.mu.Unlock()
		return false
	}
	e.acks = append(e.acks, r)
	e.mu.Unlock()
	select {
	case e.ready <- struct{}{}:
	default:
	}
	return true
}

// setOpen starts or stops the loop taking acks.
func (e *exchanger) setOpen(open bool) {
	e.mu.Lock()
	e.open = open
	e.mu.Unlock()
}

// take returns the acks that wait, and clears them.
func (e *exchanger) take() []*settleReq {
	e.mu.Lock()
	defer e.mu.Unlock()
	acks := e.acks
	e.acks = nil
	return acks
}

// takeAcks returns the acks that wait for the fetch loop, if any.
func (w *Worker) takeAcks() []*settleReq {
	if w.x == nil {
		return nil
	}
	select {
	case <-w.x.ready: // the signal of the acks taken now, or of none left
	default:
	}
	return w.x.take()
}

// flushAcks hands the acks the fetch loop holds to the settler.
func (w *Worker) flushAcks() {
	if w.x != nil {
		w.toSettler(w.x.take())
	}
}

// toSettler hands acks to the settler.
func (w *Worker) toSettler(acks []*settleReq) {
	for _, r := range acks {
		w.settler.reqs <- r
	}
}

// exchange settles acks and leases tasks for the free slots in one call, on ctx,
// which a shutdown does not cancel: the acks go out whatever happens to the fetch.
// With the queues known empty the acks go to the settler instead, and there is
// nothing to fetch.
func (w *Worker) exchange(ctx context.Context, acks []*settleReq) ([]Lease, error) {
	queues := w.fetchQueues()
	if w.c.waits.knownEmpty(queues) > 0 {
		w.toSettler(acks)
		return nil, nil
	}
	var items []backend.Settlement
	for _, r := range acks {
		items = append(items, r.items...)
	}
	p := backend.DequeueParams{Queues: queues, Count: w.fetchSize(), Lease: w.cfg.lease}
	res, d, err := w.c.exchange(ctx, w.x.driver, items, &p)
	if res == nil {
		settledBatch(acks, nil, err)
		return d.Leases, err
	}
	var serr error // the settlements' own: they took effect, but may not be replicated
	if errors.Is(err, ErrNotReplicated) {
		serr, err = err, nil
	}
	settledBatch(acks, res, serr)
	return d.Leases, err
}

// exchange settles items, then leases as p asks, in one call of x, without
// waiting, and checks the reply as settle and dequeueOnce do: with results that
// do not fit items, the results are nil and the leases returned all the same.
// Like a Dequeue try, it marks p.Queues empty when it leased fewer than p.Count
// while the Client heard its notifier.
func (c *Client) exchange(ctx context.Context, x backend.Exchanger, items []backend.Settlement, p *backend.DequeueParams) ([]backend.SettleResult, backend.DequeueResult, error) {
	type reply struct {
		res []backend.SettleResult
		d   backend.DequeueResult
	}
	l := c.waits.current()
	covered := l != nil && l.confirmed()
	gen := c.waits.generation()
	r, err := call(c, ctx, "settle and fetch", 0, func(ctx context.Context) (reply, error) {
		res, d, err := x.Exchange(ctx, backend.SettleParams{Items: items}, *p)
		if res != nil {
			if merr := checkSettled(items, res); merr != nil {
				return reply{nil, d}, merr
			}
		}
		if len(d.Leases) > p.Count || d.Deduped < 0 || d.Next < 0 {
			err = malformed("%d leases for a batch of %d, %d deduped, next in %v", len(d.Leases), p.Count, d.Deduped, d.Next)
			return reply{nil, d}, err
		}
		return reply{res, d}, err
	})
	if covered && err == nil && len(r.d.Leases) < p.Count {
		c.waits.markEmpty(l, p.Queues, gen, r.d.Next)
	}
	return r.res, r.d, err
}
