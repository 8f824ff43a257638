package memory

import (
	"context"
	"math"
	"time"

	"github.com/keyq/keyq/backend"
)

// Allow takes a token from a rate limiter shared by every user of the namespace;
// see backend.RateLimiter. It is a generic cell rate algorithm: one token every
// p.Interval, up to p.Burst at once.
func (ns *Namespace) Allow(ctx context.Context, p backend.AllowParams) (time.Duration, error) {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return 0, err
	}
	defer ns.unlock()
	now := ns.b.clock.Now()
	tat := ns.limits[p.Name]
	if tat.Before(now) {
		tat = now
	}
	slack := time.Duration(math.MaxInt64) // (Burst-1) * Interval, which may overflow
	if n := time.Duration(p.Burst - 1); n <= slack/p.Interval {
		slack = n * p.Interval
	}
	if debt := tat.Sub(now); debt > slack {
		return debt - slack, nil
	}
	ns.limits[p.Name] = tat.Add(p.Interval)
	return 0, nil
}
