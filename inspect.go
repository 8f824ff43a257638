package keyq

import (
	"context"
	"time"

	"github.com/keyq/keyq/backend"
)

// Job returns the job record of a task, or ErrNotFound once it expired or when job
// tracking is off (S6).
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	p := backend.JobParams{Namespace: c.ns, ID: id}
	return run(c, ctx, "job", &p, 0, func(ctx context.Context) (Job, error) {
		return c.b.Job(ctx, p)
	})
}

// Stats counts waiting, leased, delayed and dead tasks of the given queues, or of
// every queue the namespace has seen when none is given, and returns the namespace's
// counters (S9.1, S9.2).
func (c *Client) Stats(ctx context.Context, queues ...string) (Stats, error) {
	p := backend.StatsParams{Namespace: c.ns, Queues: queues}
	return run(c, ctx, "stats", &p, 0, func(ctx context.Context) (Stats, error) {
		return c.b.Stats(ctx, p)
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
	p := backend.PeekParams{Namespace: c.ns, Queue: queue, Offset: offset, Count: count}
	return run(c, ctx, "peek", &p, 0, func(ctx context.Context) ([]Task, error) {
		return c.b.Peek(ctx, p)
	})
}

// Leases returns up to count live leases, earliest deadline first (S9.3).
func (c *Client) Leases(ctx context.Context, count int) ([]Lease, error) {
	p := backend.LeasesParams{Namespace: c.ns, Count: count}
	return run(c, ctx, "leases", &p, 0, func(ctx context.Context) ([]Lease, error) {
		return c.b.Leases(ctx, p)
	})
}

// Dead returns up to count dead-lettered tasks from offset, oldest first (S4.7).
func (c *Client) Dead(ctx context.Context, offset, count int) ([]DeadTask, error) {
	p := backend.DeadParams{Namespace: c.ns, Offset: offset, Count: count}
	return run(c, ctx, "dead", &p, 0, func(ctx context.Context) ([]DeadTask, error) {
		return c.b.Dead(ctx, p)
	})
}

// RequeueDead puts the dead tasks with these IDs back at the tail of their queues
// with a fresh attempt count, and returns how many it moved; unknown IDs are skipped.
func (c *Client) RequeueDead(ctx context.Context, ids ...string) (int, error) {
	return c.deadAction(ctx, "requeue dead", backend.DeadActionParams{Namespace: c.ns, IDs: ids}, c.b.RequeueDead)
}

// RequeueAllDead puts every dead task back, as RequeueDead does.
func (c *Client) RequeueAllDead(ctx context.Context) (int, error) {
	return c.deadAction(ctx, "requeue dead", backend.DeadActionParams{Namespace: c.ns, All: true}, c.b.RequeueDead)
}

// PurgeDead deletes the dead tasks with these IDs and returns how many it deleted;
// unknown IDs are skipped.
func (c *Client) PurgeDead(ctx context.Context, ids ...string) (int, error) {
	return c.deadAction(ctx, "purge dead", backend.DeadActionParams{Namespace: c.ns, IDs: ids}, c.b.PurgeDead)
}

// PurgeAllDead deletes every dead task.
func (c *Client) PurgeAllDead(ctx context.Context) (int, error) {
	return c.deadAction(ctx, "purge dead", backend.DeadActionParams{Namespace: c.ns, All: true}, c.b.PurgeDead)
}

func (c *Client) deadAction(ctx context.Context, op string, p backend.DeadActionParams, f func(context.Context, backend.DeadActionParams) (int, error)) (int, error) {
	return run(c, ctx, op, &p, 0, func(ctx context.Context) (int, error) { return f(ctx, p) })
}

// Allow takes a token from the namespace's rate limiter called name, which grants one
// token every interval and up to burst at once. It returns 0 when granted, else how
// long to wait. The limit is shared by every client of the namespace on the same
// store; a backend without backend.RateLimiter gives ErrInvalid.
func (c *Client) Allow(ctx context.Context, name string, interval time.Duration, burst int) (time.Duration, error) {
	rl, ok := c.b.(backend.RateLimiter)
	if !ok {
		return 0, c.wrap("allow", invalid("the backend has no shared rate limiter"))
	}
	p := backend.AllowParams{Namespace: c.ns, Name: name, Interval: interval, Burst: burst}
	return run(c, ctx, "allow", &p, 0, func(ctx context.Context) (time.Duration, error) {
		return rl.Allow(ctx, p)
	})
}
