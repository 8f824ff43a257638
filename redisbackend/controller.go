package redisbackend

import (
	"context"
	"fmt"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// Pause implements backend.Controller: one script (scripts/pause.lua) changes the
// state key that holds the paused queues (lua.KeyPaused), which the dequeue
// script reads in the MGET it makes anyway, so a namespace without a paused
// queue pays no command for pausing. A paused queue joins the namespace's
// queues, so that Stats lists it; a resume that changes something publishes an
// empty message on the wake-up channel (Wake{}). Under Options.WaitReplicas the
// change waits for replicas, as an enqueue does.
func (n *namespace) Pause(ctx context.Context, p backend.PauseParams) error {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return err
	}
	args := make([]any, 0, 2+len(p.Queues))
	args = append(args, flag(p.Resume))
	for _, q := range p.Queues {
		args = append(args, q)
	}
	r, err := n.b.runReq(ctx, scriptPause, n.k, args)
	if r == nil { // else err is nil or ErrNotReplicated
		return err
	}
	if len(r) != 2 {
		return corrupt("pause reply of %d items", len(r))
	}
	if _, ierr := integer(r[1]); ierr != nil {
		return ierr
	}
	return err
}

// Cancel implements backend.Controller with one script (scripts/cancel.lua). No
// structure of the store is indexed by task ID, so finding the task takes time in
// proportion to what the namespace holds: a scan of the delayed tasks, a read of
// every live lease, and a read of the task's queue (its job record's, or every
// queue of the namespace for a task enqueued without one), comparing IDs. The
// server does nothing else meanwhile: reading a queue costs it about a
// millisecond per thousand waiting tasks (BenchmarkCancel: 6 ms behind 10,000,
// 90 ms behind 100,000 on a small VM). A task whose job record is final costs
// one read.
//
// A cancelled lease leaves a tombstone, c:<token>, that expires at the lease's
// deadline: Extend reports the lease Cancelled until then. The cancel is
// published on the namespace's wake-up channel, which Notify turns into
// Wake{Cancelled: id}.
func (n *namespace) Cancel(ctx context.Context, p backend.CancelParams) (backend.CancelResult, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return 0, err
	}
	epoch, id, ok := splitID(p.ID)
	if !ok || len(id) > lua.Pad { // names no task: IDs are numbers below 2^53
		return 0, fmt.Errorf("%w: no task %q is waiting, delayed or leased", backend.ErrNotFound, p.ID)
	}
	r, err := n.b.runReq(ctx, scriptCancel, n.k, []any{id, epoch, flag(p.Running)}, n.k.job(id))
	if r == nil { // else err is nil or ErrNotReplicated
		return 0, err
	}
	if len(r) != 2 {
		return 0, corrupt("cancel reply of %d items", len(r))
	}
	switch r[1] {
	case "removed":
		return backend.CancelRemoved, err
	case "running":
		return backend.CancelRunning, err
	case "leased":
		return 0, fmt.Errorf("%w: task %q", backend.ErrLeased, p.ID)
	case "none":
		return 0, fmt.Errorf("%w: no task %q is waiting, delayed or leased", backend.ErrNotFound, p.ID)
	}
	return 0, corrupt("cancel reply %v", r[1])
}
