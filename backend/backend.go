// Package backend defines the contract between keyq and its storage drivers.
//
// Applications use package keyq; this package is for driver authors. A driver is
// the storage and nothing else: it implements Backend, whose Namespace method binds
// a namespace once and returns the handle every storage call runs on. Waiting for
// tasks, retries, worker batching and option defaults live in package keyq, once
// for every driver. Package conformance holds the test suite that proves a driver
// keeps the contract (docs/semantics.md in the module, whose rule numbers, S1.1 and
// on, the comments below cite); docs/semantics.md's "Writing a driver" says what a
// new driver must do and which tiers to run.
//
// Required: Backend (2 methods) and Namespace (6 methods). Optional, found by type
// assertion, a missing one reported to callers as errors.ErrUnsupported: Inspector,
// Admin and Controller (on a Namespace, for tools and operators), Notifier (on a Namespace;
// without it waiting callers poll), RateLimiter and Exchanger (on a Namespace),
// NamespaceLister and Clocked (on a Backend).
//
// Every method validates its own input (each parameter struct has a Validate method
// a driver calls first) and reports bad input with ErrInvalid, changing nothing; a
// nil ctx is bad input. Every method must be safe for concurrent use (S8.2), must
// return when ctx is done, with CtxErr(ctx), and must report failures with the
// sentinels of errors.go. After Close, every method returns ErrClosed (S8.3).
//
// Time: lease deadlines, delays, TTLs and the times in Task and Job come from the
// backend's own clock (for Redis, the server's), never from the caller's host (S7.3).
package backend

import (
	"context"
	"time"

	"github.com/keyq/keyq/clock"
)

// Backend stores the queues, leases, answers and job records of any number of
// namespaces.
type Backend interface {
	// Namespace returns the handle for the namespace called name. It does no I/O:
	// a namespace exists once something is written to it. An empty name, or one
	// the store cannot hold, gives ErrInvalid; a closed backend gives ErrClosed.
	// Two calls with the same name may return the same handle.
	Namespace(name string) (Namespace, error)

	// Close releases the driver's resources. Calls in flight return ErrClosed
	// promptly, later calls fail with ErrClosed, a second Close returns nil, and no
	// goroutine of the driver outlives it (S8.3). Stored data is not touched.
	Close() error
}

// Namespace is one namespace of a Backend: its queues, leases, answers and job
// records. A call on one namespace never reads or changes another's (S9.4).
type Namespace interface {
	// Enqueue adds p.Tasks to p.Queue and returns their new task IDs, in order.
	// The batch is all or nothing (S2.3): on error none of the tasks is queued.
	// Tasks go to the tail (S2.1), or to the head with p.AtHead (S2.2; several are
	// pushed one by one, so the last one ends first in line). With p.Delay > 0 they
	// become available at the head of the queue once the delay has passed (S7.2).
	// With p.Unique, the batch fails with ErrDuplicate when any task's key has an
	// answer or belongs to a waiting, delayed or leased task of the namespace, or
	// when two tasks of the batch share a key (S2.4).
	Enqueue(ctx context.Context, p EnqueueParams) ([]string, error)

	// Dequeue leases up to p.Count tasks, taking from the first non-empty queue of
	// p.Queues, then the next (S3.1). A task whose key has an answer is dropped
	// instead of delivered, and the answer's TTL is reset to its full length (S3.2).
	// It never waits: an empty result has a nil error, and its Next tells when the
	// namespace's next delayed task is due or lease expires. Waiting (S3.4, S3.5)
	// is the keyq package's, fed by Notifier.
	Dequeue(ctx context.Context, p DequeueParams) (DequeueResult, error)

	// Settle ends many live leases in one call, each with the one outcome its
	// Settlement asks for (S4.2, S4.3, S4.7, S5.1), and returns one result per
	// item, in order. Each item is atomic on its own; items are independent, and an
	// item whose lease had expired or ended is SettleLost and changes nothing
	// (S4.6). A non-nil error with nil results reports a failure of the whole call,
	// after which any item may or may not have been settled. With ErrNotReplicated
	// the results are returned too: the call took effect.
	Settle(ctx context.Context, p SettleParams) ([]SettleResult, error)

	// Extend moves each live lease of p.Leases to now + p.Lease (S4.4) and returns
	// one result per lease, in order: the new deadline, or the zero time for a
	// lease that had expired or ended, which the call leaves alone, with
	// Cancelled set when it ended by Controller.Cancel (S12.4). Errors as for
	// Settle.
	Extend(ctx context.Context, p ExtendParams) ([]ExtendResult, error)

	// SetAnswer stores an answer under a key, replacing any value and TTL (S5.1).
	SetAnswer(ctx context.Context, p SetAnswerParams) error

	// GetAnswer returns the answer stored under a key, with the time it has left
	// (Answer.Left), or ErrNotFound. With p.Refresh its TTL is reset to the full TTL
	// it was stored with, and Left is that TTL (S5.2).
	GetAnswer(ctx context.Context, p GetAnswerParams) (Answer, error)
}

// Inspector is implemented by namespace handles that can show what they hold, for
// people and tools. Its calls only read: they change nothing, housekeeping
// included, so they work on a store that refuses writes (ErrFull) and on a
// read-only replica. Where housekeeping has not yet run they report what it would
// find: a lease past its deadline is not live, and Stats counts it, and a delayed
// task that is due, as waiting; Peek shows the queue as it stands, without them.
type Inspector interface {
	// Stats counts tasks per queue and returns the namespace's counters (S9.1,
	// S9.2).
	Stats(ctx context.Context, p StatsParams) (Stats, error)
	// Job returns a task's job record, or ErrNotFound when there is none: it
	// expired, or the task was enqueued with tracking off (S6).
	Job(ctx context.Context, p JobParams) (Job, error)
	// Peek returns waiting tasks of a queue from its head, without changing them
	// (S9.3).
	Peek(ctx context.Context, p PeekParams) ([]Task, error)
	// Leases returns live leases of the namespace, earliest deadline first (S9.3).
	Leases(ctx context.Context, p LeasesParams) ([]Lease, error)
	// Dead returns dead-lettered tasks, oldest first (S4.7, S9.3).
	Dead(ctx context.Context, p DeadParams) ([]DeadTask, error)
	// Delayed returns delayed tasks (enqueued with a delay or a time, or released
	// with a delay) that are not yet due, earliest due first; those of p.Queue
	// only when it is set (S12.5).
	Delayed(ctx context.Context, p DelayedParams) ([]DelayedTask, error)
}

// Admin is implemented by namespace handles that operators can repair by hand.
type Admin interface {
	// Reclaim puts back every expired lease of the namespace now and returns how
	// many it reclaimed. Drivers also reclaim on their own, without this call
	// (S4.5).
	Reclaim(ctx context.Context) (int, error)
	// RequeueDead moves dead tasks back to the tail of their queues with their
	// attempt count reset to 0, and returns how many it moved.
	RequeueDead(ctx context.Context, p DeadActionParams) (int, error)
	// PurgeDead deletes dead tasks and returns how many it deleted.
	PurgeDead(ctx context.Context, p DeadActionParams) (int, error)
	// DeleteAnswer removes an answer, or returns ErrNotFound (S5.4).
	DeleteAnswer(ctx context.Context, p DeleteAnswerParams) error
}

// Controller is implemented by namespace handles that let operators stop queues
// and remove or cancel tasks by ID, from any process (S12).
type Controller interface {
	// Pause stops deliveries from p.Queues, or with p.Resume starts them again
	// (S12.1). Dequeue skips a paused queue as though it were empty; enqueues,
	// settles and reclaims of its tasks go on. The state is stored, so it
	// outlives every process, shows in Stats (QueueStats.Paused, for a paused
	// queue even when it holds no task) and holds until resumed. Pausing a
	// paused queue, or resuming a running one, changes nothing. A resume that
	// changes something sends Wake{} to Notify's listeners.
	Pause(ctx context.Context, p PauseParams) error

	// Cancel removes the task with ID p.ID (S12.2, S12.3, S12.4):
	//   - waiting or delayed: the task is removed and CancelRemoved returned;
	//   - leased, with p.Running: the lease ends now, as an ack without an answer
	//     would end it (the task is never delivered again, nothing is
	//     reclaimed), CancelRunning is returned, Extend reports the lease as
	//     Cancelled until its deadline, Settle as SettleLost, and Notify's
	//     listeners get Wake{Cancelled: p.ID};
	//   - leased, without p.Running: ErrLeased, and nothing changes;
	//   - anything else (unknown, acked, dead): ErrNotFound.
	// A removed or cancelled task's job record, when it has one, takes the final
	// status StatusCancelled, and the Cancelled counter goes up by one.
	Cancel(ctx context.Context, p CancelParams) (CancelResult, error)
}

// Notifier is implemented by namespace handles that can tell waiting callers when
// tasks may have become available, so that they need not poll.
type Notifier interface {
	// Notify calls f with a Wake whenever tasks may have become available in the
	// namespace, from the moment Notify returns until stop is called; after stop
	// returns f is not called again. It returns once that holds (for Redis, the
	// subscription is confirmed), or with an error when ctx ends first or the
	// driver cannot listen now (the caller then polls at Next and tries Notify
	// again on its next wait).
	//
	// A driver sends Wake{Queue: q, Count: n} when n tasks became available in q
	// (an enqueue, a release); Wake{In: d} when a delayed task or lease deadline
	// came sooner than any Dequeue reported in Next, d from now; and Wake{} when
	// every waiter should look again now: signals may have been lost (a
	// subscription re-established), the backend closed, or, at least once a
	// second, while the driver cannot hear its store. A driver that cannot tell
	// when its new event is due may send Wake{} for it.
	// It sends Wake{Cancelled: id} when Controller.Cancel ended the lease of task
	// id (S12.4); such a Wake wakes no waiter. f must not block and must not call
	// the driver.
	Notify(ctx context.Context, f func(Wake)) (stop func(), err error)
}

// Wake is one signal of a Notifier. An empty Queue and Cancelled mean: look
// again, whatever you wait for: now, or In from now.
type Wake struct {
	Queue string
	Count int // >= 1 when Queue is set
	// In, with Queue and Cancelled empty, is when to look again: the
	// namespace's earliest delayed task or lease deadline is now In from now,
	// on the backend's clock, sooner than any Dequeue reported in Next. A
	// waiter that will look again by then has nothing to do. Zero: look again
	// now.
	In time.Duration
	// Cancelled is the ID of a task whose lease Controller.Cancel ended (S12.4);
	// Queue and Count are then empty. It is best effort, as every Wake is: a
	// worker also learns it from Extend.
	Cancelled string
}

// RateLimiter is implemented by namespace handles that can enforce a rate limit
// shared by every process using the namespace.
type RateLimiter interface {
	// Allow takes one token from the limiter named p.Name. It returns 0 when the
	// token was granted, or how long to wait before trying again.
	Allow(ctx context.Context, p AllowParams) (time.Duration, error)
}

// Exchanger is implemented by namespace handles that can settle leases and lease
// new tasks in one call, so that a worker whose handlers finished hands in their
// outcomes and takes the next tasks in one round trip to the store. A driver
// without it costs a worker two calls where it could make one, nothing else.
type Exchanger interface {
	// Exchange settles s.Items as Settle does, then leases as Dequeue does with d,
	// and returns both results. Both parameter sets are checked first: bad input
	// in either is ErrInvalid, and nothing is settled or leased. The settlements
	// take effect before the dequeue looks, so an ack's answer drops a task of its
	// key that the dequeue finds (S3.2), and a release to the head is what the
	// dequeue takes first.
	//
	// A non-nil error with nil settle results reports a failure of the whole
	// call: any item may or may not have been settled, and leases it may have
	// taken come back when they expire. With settle results, the settlements took
	// effect as reported and the error is the dequeue's, or ErrNotReplicated;
	// leases in the DequeueResult are the caller's, whatever the error.
	Exchange(ctx context.Context, s SettleParams, d DequeueParams) ([]SettleResult, DequeueResult, error)
}

// Clocked is implemented by backends that keep time on a clock the caller can
// read (the memory backend, whose clock a test may fake). The keyq package waits
// on it for the times a Dequeue reports in Next; without it, it waits on the
// host's clock.
type Clocked interface {
	Clock() clock.Clock
}
