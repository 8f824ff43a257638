package keyq

import (
	"context"
	"time"

	"github.com/keyq/keyq/backend"
)

// The calls of this file need an optional interface of the driver: Job, Stats,
// Len, Peek, Leases and Dead need backend.Inspector, Reclaim and the dead-task
// actions backend.Admin, Allow backend.RateLimiter. Without it they fail with an
// error matching errors.ErrUnsupported.

// inspect runs f on the namespace's Inspector.
func inspect[T any, P interface{ Validate() error }](c *Client, ctx context.Context, op string, p P, f func(backend.Inspector, context.Context) (T, error)) (T, error) {
	in, err := optional[backend.Inspector](c, op)
	if err != nil {
		var zero T
		return zero, err
	}
	return run(c, ctx, op, p, 0, func(ctx context.Context) (T, error) { return f(in, ctx) })
}

// Job returns the job record of a task, or ErrNotFound once it expired or when job
// tracking is off (S6).
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	p := backend.JobParams{ID: id}
	return inspect(c, ctx, "job", &p, func(in backend.Inspector, ctx context.Context) (Job, error) {
		return in.Job(ctx, p)
	})
}

// Stats counts waiting, leased, delayed and dead tasks of the given queues, or of
// every queue the namespace has seen when none is given, and returns the namespace's
// counters (S9.1, S9.2).
func (c *Client) Stats(ctx context.Context, queues ...string) (Stats, error) {
	p := backend.StatsParams{Queues: queues}
	return inspect(c, ctx, "stats", &p, func(in backend.Inspector, ctx context.Context) (Stats, error) {
		return in.Stats(ctx, p)
	})
}

// Len returns how many tasks wait in queue, leaving out leased, delayed and dead ones
// (S9.1).
func (c *Client) Len(ctx context.Context, queue string) (int, error) {
	st, err := c.Stats(ctx, queue)
	return int(st.Queues[queue].Waiting), err
}

// Peek returns up to count waiting tasks of queue, from offset places behind the
// head, without changing them (S9.3).
func (c *Client) Peek(ctx context.Context, queue string, offset, count int) ([]Task, error) {
	p := backend.PeekParams{Queue: queue, Offset: offset, Count: count}
	return inspect(c, ctx, "peek", &p, func(in backend.Inspector, ctx context.Context) ([]Task, error) {
		return in.Peek(ctx, p)
	})
}

// Leases returns up to count live leases, earliest deadline first (S9.3).
func (c *Client) Leases(ctx context.Context, count int) ([]Lease, error) {
	p := backend.LeasesParams{Count: count}
	return inspect(c, ctx, "leases", &p, func(in backend.Inspector, ctx context.Context) ([]Lease, error) {
		return in.Leases(ctx, p)
	})
}

// Dead returns up to count dead-lettered tasks from offset, oldest first (S4.7).
func (c *Client) Dead(ctx context.Context, offset, count int) ([]DeadTask, error) {
	p := backend.DeadParams{Offset: offset, Count: count}
	return inspect(c, ctx, "dead", &p, func(in backend.Inspector, ctx context.Context) ([]DeadTask, error) {
		return in.Dead(ctx, p)
	})
}

// Reclaim puts every expired lease of the namespace back now, and returns how many.
// Backends do this on their own; the call is for tools (S4.5).
func (c *Client) Reclaim(ctx context.Context) (int, error) {
	a, err := optional[backend.Admin](c, "reclaim")
	if err != nil {
		return 0, err
	}
	return call(c, ctx, "reclaim", 0, a.Reclaim)
}

// RequeueDead puts the dead tasks with these IDs back at the tail of their queues
// with a fresh attempt count, and returns how many it moved; unknown IDs are skipped.
func (c *Client) RequeueDead(ctx context.Context, ids ...string) (int, error) {
	return c.deadAction(ctx, "requeue dead", backend.DeadActionParams{IDs: ids}, backend.Admin.RequeueDead)
}

// RequeueAllDead puts every dead task back, as RequeueDead does.
func (c *Client) RequeueAllDead(ctx context.Context) (int, error) {
	return c.deadAction(ctx, "requeue dead", backend.DeadActionParams{All: true}, backend.Admin.RequeueDead)
}

// PurgeDead deletes the dead tasks with these IDs and returns how many it deleted;
// unknown IDs are skipped.
func (c *Client) PurgeDead(ctx context.Context, ids ...string) (int, error) {
	return c.deadAction(ctx, "purge dead", backend.DeadActionParams{IDs: ids}, backend.Admin.PurgeDead)
}

// PurgeAllDead deletes every dead task.
func (c *Client) PurgeAllDead(ctx context.Context) (int, error) {
	return c.deadAction(ctx, "purge dead", backend.DeadActionParams{All: true}, backend.Admin.PurgeDead)
}

func (c *Client) deadAction(ctx context.Context, op string, p backend.DeadActionParams, f func(backend.Admin, context.Context, backend.DeadActionParams) (int, error)) (int, error) {
	a, err := optional[backend.Admin](c, op)
	if err != nil {
		return 0, err
	}
	return run(c, ctx, op, &p, 0, func(ctx context.Context) (int, error) { return f(a, ctx, p) })
}

// Allow takes a token from the namespace's rate limiter called name, which grants one
// token every interval and up to burst at once. It returns 0 when granted, else how
// long to wait. The limit is shared by every client of the namespace on the same
// store; a backend without backend.RateLimiter gives an error matching
// errors.ErrUnsupported.
func (c *Client) Allow(ctx context.Context, name string, interval time.Duration, burst int) (time.Duration, error) {
	rl, err := optional[backend.RateLimiter](c, "allow")
	if err != nil {
		return 0, err
	}
	p := backend.AllowParams{Name: name, Interval: interval, Burst: burst}
	return run(c, ctx, "allow", &p, 0, func(ctx context.Context) (time.Duration, error) {
		return rl.Allow(ctx, p)
	})
}
