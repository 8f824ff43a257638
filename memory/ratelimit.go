package memory

import (
	"context"
	"time"

	"github.com/keyq/keyq/backend"
)

// Allow takes a token from a rate limiter shared by every user of this backend; see
// backend.RateLimiter. It is a generic cell rate algorithm: one token every
// p.Interval, up to p.Burst at once.
func (b *Backend) Allow(ctx context.Context, p backend.AllowParams) (time.Duration, error) {
	ns, err := b.lock(ctx, p.Namespace)
	if err != nil {
		return 0, err
	}
	defer ns.mu.Unlock()
	now := b.clock.Now()
	tat := ns.limits[p.Name]
	if tat.Before(now) {
		tat = now
	}
	if allowAt := tat.Add(-time.Duration(p.Burst-1) * p.Interval); allowAt.After(now) {
		return allowAt.Sub(now), nil
	}
	ns.limits[p.Name] = tat.Add(p.Interval)
	return 0, nil
}
