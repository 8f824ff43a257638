package redisbackend

import (
	"context"
	"time"

	"github.com/keyq/keyq/backend"
)

// Allow implements backend.RateLimiter with the generic cell rate algorithm in one
// script (scripts/allow.lua) on the server's clock, so every process sharing the
// namespace shares the limit. The limiter's state is one string key holding its
// theoretical arrival time in µs, expiring once the limiter is full again.
func (n *namespace) Allow(ctx context.Context, p backend.AllowParams) (time.Duration, error) {
	if err := n.b.begin(ctx, &p); err != nil {
		return 0, err
	}
	interval := p.Interval.Microseconds()
	if interval < 1 {
		interval = 1
	}
	k := n.k.limiter(p.Name)
	wait, err := scriptAllow.eval.Run(ctx, n.b.client, []string{k}, interval, p.Burst).Int64()
	if err != nil {
		return 0, mapErr(ctx, err)
	}
	return time.Duration(wait) * time.Microsecond, nil
}
