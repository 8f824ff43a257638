package keyq

import (
	"context"
	"time"

	"github.com/keyq/keyq/clock"
)

// limiter is a generic cell rate algorithm over the worker's clock: one start every
// interval, up to burst at once. Only the worker's fetch loop uses it, so it needs no
// lock.
type limiter struct {
	interval time.Duration
	burst    int
	tat      time.Time // theoretical arrival time of the next start
}

// wait returns how long until a start is allowed at now; 0 means now.
func (l *limiter) wait(now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	tat := l.tat
	if tat.Before(now) {
		tat = now
	}
	if at := tat.Add(-time.Duration(l.burst-1) * l.interval); at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// take records a start at now, which wait allowed.
func (l *limiter) take(now time.Time) {
	if l == nil {
		return
	}
	if l.tat.Before(now) {
		l.tat = now
	}
	l.tat = l.tat.Add(l.interval)
}

func newLimiters(cfg *workerConfig) []*limiter {
	var ls []*limiter
	if cfg.minInterval > 0 {
		ls = append(ls, &limiter{interval: cfg.minInterval, burst: 1})
	}
	if cfg.rate > 0 {
		ls = append(ls, &limiter{interval: time.Duration(float64(time.Second) / cfg.rate), burst: cfg.rateBurst})
	}
	return ls
}

// sleep waits d on c, or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, c clock.Clock, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// pace waits until every local limiter and the shared one allow a task start, and
// takes the start from each. It returns false when ctx ended first.
func (w *Worker) pace(ctx context.Context) bool {
	for {
		now := w.cfg.clock.Now()
		var d time.Duration
		for _, l := range w.limits {
			d = max(d, l.wait(now))
		}
		if d == 0 {
			break
		}
		if !sleep(ctx, w.cfg.clock, d) {
			return false
		}
	}
	now := w.cfg.clock.Now()
	for _, l := range w.limits {
		l.take(now)
	}
	s := w.cfg.shared
	if s == nil {
		return ctx.Err() == nil
	}
	for fails := 0; ; {
		d, err := w.c.Allow(ctx, s.name, s.interval, s.burst)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			w.log.Warn("keyq worker: shared rate limiter failed", "limiter", s.name, "err", err)
			d = backoffStep(fails, 100*time.Millisecond, 5*time.Second)
			fails++
		} else if d == 0 {
			return true
		}
		if !sleep(ctx, w.cfg.clock, d) {
			return false
		}
	}
}

// backoffStep is first doubled n times, but never more than max.
func backoffStep(n int, first, max time.Duration) time.Duration {
	d := first
	for range min(n, 32) {
		d *= 2
		if d >= max {
			return max
		}
	}
	return min(d, max)
}
