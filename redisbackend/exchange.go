package redisbackend

import (
	"context"

	"github.com/keyq/keyq/backend"
)

// Exchange implements backend.Exchanger: one script (scripts/exchange.lua) runs
// settle.lua, then dequeue.lua, so a worker's settlements and its next fetch
// cost one round trip and one script call. Settlements whose leases span two
// epochs (around a loss of the store's data), or of which none reaches the
// server, go as Settle (which then sends nothing), then Dequeue. The dequeue part keeps Dequeue's promise:
// once sent, its leases reach the caller even when ctx ends meanwhile.
func (n *namespace) Exchange(ctx context.Context, sp backend.SettleParams, dp backend.DequeueParams) ([]backend.SettleResult, backend.DequeueResult, error) {
	invalid := sp.Validate()
	if invalid == nil {
		invalid = dp.Validate()
	}
	if err := n.b.begin(ctx, invalid); err != nil {
		return nil, backend.DequeueResult{}, err
	}
	items := sp.Items
	res, send := sendable(items)
	groups := byEpoch(send, func(i int) string { return items[i].Token })
	if len(groups) != 1 {
		res, err := n.Settle(ctx, sp)
		if res == nil {
			return nil, backend.DequeueResult{}, err
		}
		d, derr := n.Dequeue(ctx, dp)
		if derr == nil {
			derr = err
		}
		return res, d, derr
	}
	sargs, order := settleArgs(items, groups[0])
	dargs, qkeys := n.dequeueArgs(&dp)
	args := make([]any, 0, 1+len(sargs)+len(dargs)+1)
	args = append(args, len(sargs))
	args = append(append(args, sargs...), dargs...)
	dctx, cancel := n.dequeueCtx(ctx)
	defer cancel()
	r, err := n.b.runReq(dctx, scriptExchange, n.k, args, qkeys...)
	if r == nil {
		if ctx.Err() != nil {
			err = backend.CtxErr(ctx)
		}
		return nil, backend.DequeueResult{}, err
	}
	notRepl := firstNotReplicated(nil, err)
	sr, ok1 := r[0].([]any)
	dr, ok2 := r[len(r)-1].([]any)
	if len(r) != 2 || !ok1 || !ok2 {
		return nil, backend.DequeueResult{}, corrupt("exchange reply of %d items", len(r))
	}
	if err := settled(sr, groups[0], order, res); err != nil {
		return nil, backend.DequeueResult{}, err
	}
	d, derr := n.dequeueRounds(ctx, dctx, &dp, dargs, qkeys, dr)
	if derr == nil {
		derr = notRepl
	}
	return res, d, derr
}
