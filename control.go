package keyq

import (
	"context"

	"github.com/keyq/keyq/backend"
)

// Control of queued and running work (S12). Pause, Resume, Delete and Cancel
// need the driver's backend.Controller, Delayed its backend.Inspector; without
// it they fail with an error matching errors.ErrUnsupported. Each works from
// any process on the namespace, and its effect is stored: it outlives the
// client that made it.

// DelayedTask is a delayed task not yet due, with the time it becomes available
// on the backend's clock.
type DelayedTask = backend.DelayedTask

// CancelResult is what a Cancel did: CancelRemoved or CancelRunning.
type CancelResult = backend.CancelResult

// The results of a Cancel.
const (
	CancelRemoved = backend.CancelRemoved // the task was waiting or delayed; it is gone
	CancelRunning = backend.CancelRunning // the task was leased; its lease ended
)

// control runs f on the namespace's Controller.
func control[T any, P interface{ Validate() error }](c *Client, ctx context.Context, op string, p P, f func(backend.Controller, context.Context) (T, error)) (T, error) {
	ctl, err := optional[backend.Controller](c, op)
	if err != nil {
		var zero T
		return zero, err
	}
	return run(c, ctx, op, p, 0, func(ctx context.Context) (T, error) { return f(ctl, ctx) })
}

// Pause stops deliveries from the given queues, at least one (S12.1): every
// Dequeue and Worker of the namespace, in every process, skips them as though
// they were empty, and takes from its other queues, by priority or by weight.
// Enqueues go on, and so do acks, releases and reclaims of their tasks: tasks
// pile up, waiting. The state is kept in the store until Resume, whatever
// restarts, and Stats shows it (QueueStats.Paused). Pausing a paused queue
// changes nothing.
func (c *Client) Pause(ctx context.Context, queues ...string) error {
	return c.pause(ctx, "pause", backend.PauseParams{Queues: queues})
}

// Resume starts deliveries from the given paused queues again, at least one
// (S12.1), and wakes waiting consumers, which need no restart. Resuming a queue
// that is not paused changes nothing.
func (c *Client) Resume(ctx context.Context, queues ...string) error {
	return c.pause(ctx, "resume", backend.PauseParams{Queues: queues, Resume: true})
}

func (c *Client) pause(ctx context.Context, op string, p backend.PauseParams) error {
	_, err := control(c, ctx, op, &p, func(ctl backend.Controller, ctx context.Context) (struct{}, error) {
		return struct{}{}, ctl.Pause(ctx, p)
	})
	return err
}

// Delete removes the waiting or delayed task with ID id: it is never delivered
// (S12.2). Its job record, if it has one, ends with StatusCancelled, and the
// namespace's Cancelled counter goes up. A task that is leased now, running,
// gives ErrLeased and is left alone (Cancel ends it); one that is not waiting,
// delayed or leased (unknown, acked, dead) gives ErrNotFound.
func (c *Client) Delete(ctx context.Context, id string) error {
	_, err := c.cancel(ctx, "delete", backend.CancelParams{ID: id})
	return err
}

// Cancel ends the task with ID id, waiting, delayed or running (S12.3, S12.4),
// and reports which it was:
//   - CancelRemoved: it was waiting or delayed and is removed, as Delete does;
//   - CancelRunning: it was leased, and its lease is ended in the store at once.
//     It is never delivered again, whatever its handler does next. A Worker
//     running it cancels the handler's context with the cause ErrCancelled
//     (context.Cause), at once when the store's wake-up channel carries the
//     cancel and at the latest at its next lease extension, stores no answer,
//     and reports OutcomeCancelled; a caller holding the lease itself finds
//     Ack and Release failing with ErrLeaseLost, and Extend with ErrCancelled.
//
// Either way the job record, if any, ends with StatusCancelled and the
// namespace's Cancelled counter goes up. A task that is not waiting, delayed or
// leased (unknown, acked, dead) gives ErrNotFound.
func (c *Client) Cancel(ctx context.Context, id string) (CancelResult, error) {
	return c.cancel(ctx, "cancel", backend.CancelParams{ID: id, Running: true})
}

func (c *Client) cancel(ctx context.Context, op string, p backend.CancelParams) (CancelResult, error) {
	return control(c, ctx, op, &p, func(ctl backend.Controller, ctx context.Context) (CancelResult, error) {
		r, err := ctl.Cancel(ctx, p)
		switch {
		case err != nil:
			return 0, err
		case r == CancelRemoved, r == CancelRunning && p.Running:
			return r, nil
		}
		return 0, malformed("cancel of task %q answered %v", p.ID, r)
	})
}

// Delayed returns up to count delayed tasks not yet due, from offset places
// behind the earliest due, earliest due first, each with its due time (S12.5):
// those of queue, or of every queue when queue is "". It changes nothing. A
// delayed task is one enqueued with Delay or At, or released with a delay, as a
// Worker's retry backoff does.
func (c *Client) Delayed(ctx context.Context, queue string, offset, count int) ([]DelayedTask, error) {
	p := backend.DelayedParams{Queue: queue, Offset: offset, Count: count}
	return inspect(c, ctx, "delayed", &p, func(in backend.Inspector, ctx context.Context) ([]DelayedTask, error) {
		return in.Delayed(ctx, p)
	})
}
