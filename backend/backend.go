// Package backend defines the contract between keyq and its storage drivers.
//
// Applications use package keyq; this package is for driver authors. A driver
// implements Backend; package conformance holds the test suite that proves a driver
// keeps the contract (docs/semantics.md in the module, whose rule numbers, S1.1 and
// on, the comments below cite).
//
// The keyq package validates every parameter struct with its Validate method, applies
// defaults and the operation timeout before it calls a driver, so a driver may assume
// Validate returned nil. Every method must be safe for concurrent use (S8.2), must
// return when ctx is done, and must report failures with the sentinels of errors.go.
// After Close, every method returns ErrClosed (S8.3).
//
// Time: lease deadlines, delays, TTLs and the times in Task and Job come from the
// backend's own clock (for Redis, the server's), never from the caller's host (S7.3).
package backend

import (
	"context"
	"time"
)

// Backend stores the queues, leases, answers and job records of any number of
// namespaces.
type Backend interface {
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
	// With p.Wait == 0 it returns at once; otherwise it blocks until at least one task
	// is leased, p.Wait has passed (measured on the caller's clock), ctx is done, or
	// the backend closes (S3.4, S3.5, S8.3). An empty result has a nil error. If a
	// task was leased, the result carries it, with a nil error, even when ctx ended
	// meanwhile: a task is either returned to the caller or left available (S3.5).
	Dequeue(ctx context.Context, p DequeueParams) (DequeueResult, error)

	// Ack ends a live lease and removes its task for good (S4.2). With p.Answer set,
	// the answer is stored under the task's key in the same atomic step (S5.1). An
	// expired or ended lease gives ErrLeaseLost and changes nothing (S4.6).
	Ack(ctx context.Context, p AckParams) error

	// Release ends a live lease and puts its task back: at the head, at the tail with
	// p.ToTail, or after p.Delay, with its attempt count up by one unless
	// p.KeepAttempt (S4.3). A task whose attempt count reaches its MaxAttempts, or
	// any task with p.DeadLetter, goes to the dead-letter list instead (S4.7).
	Release(ctx context.Context, p ReleaseParams) error

	// Extend moves a live lease's deadline to now + p.Lease and returns the new
	// deadline (S4.4).
	Extend(ctx context.Context, p ExtendParams) (time.Time, error)

	// Reclaim puts back every expired lease of the namespace now and returns how many
	// it reclaimed. Drivers also reclaim on their own, without this call (S4.5).
	Reclaim(ctx context.Context, p ReclaimParams) (int, error)

	// SetAnswer stores an answer under a key, replacing any value and TTL (S5.1).
	SetAnswer(ctx context.Context, p SetAnswerParams) error
	// GetAnswer returns the answer stored under a key, with the time it has left
	// (Answer.Left), or ErrNotFound. With p.Refresh its TTL is reset to the full TTL
	// it was stored with, and Left is that TTL (S5.2).
	GetAnswer(ctx context.Context, p GetAnswerParams) (Answer, error)
	// DeleteAnswer removes an answer, or returns ErrNotFound (S5.4).
	DeleteAnswer(ctx context.Context, p DeleteAnswerParams) error

	// Job returns a task's job record, or ErrNotFound when there is none: it expired,
	// or the task was enqueued with tracking off (S6).
	Job(ctx context.Context, p JobParams) (Job, error)

	// Stats counts tasks per queue and returns the namespace's counters (S9.1, S9.2).
	Stats(ctx context.Context, p StatsParams) (Stats, error)
	// Peek returns waiting tasks of a queue from its head, without changing them
	// (S9.3).
	Peek(ctx context.Context, p PeekParams) ([]Task, error)
	// Leases returns live leases of the namespace, earliest deadline first (S9.3).
	Leases(ctx context.Context, p LeasesParams) ([]Lease, error)
	// Dead returns dead-lettered tasks, oldest first (S4.7, S9.3).
	Dead(ctx context.Context, p DeadParams) ([]DeadTask, error)
	// RequeueDead moves dead tasks back to the tail of their queues with their attempt
	// count reset to 0, and returns how many it moved.
	RequeueDead(ctx context.Context, p DeadActionParams) (int, error)
	// PurgeDead deletes dead tasks and returns how many it deleted.
	PurgeDead(ctx context.Context, p DeadActionParams) (int, error)

	// Close releases the driver's resources. Blocked calls return ErrClosed promptly,
	// later calls fail with ErrClosed, a second Close returns nil, and no goroutine of
	// the driver outlives it (S8.3). Stored data is not touched.
	Close() error
}

// BatchAcker is implemented by drivers that can end many leases in one round trip.
// The keyq package uses it when present and otherwise acks one lease at a time.
type BatchAcker interface {
	// AckBatch acks each of ps as Ack would and returns one result per item, in
	// order: nil, or an error matching ErrLeaseLost for a lease that had expired or
	// ended. Each item is atomic on its own; the items are independent. A non-nil err
	// reports a failure of the whole call (for example ErrUnavailable), after which
	// any item may or may not have been acked.
	AckBatch(ctx context.Context, ps []AckParams) ([]error, error)
}

// RateLimiter is implemented by drivers that can enforce a rate limit shared by every
// process using a namespace.
type RateLimiter interface {
	// Allow takes one token from the limiter named p.Name. It returns 0 when the
	// token was granted, or how long to wait before trying again.
	Allow(ctx context.Context, p AllowParams) (time.Duration, error)
}
