package backend

import (
	"fmt"
	"time"
)

// Task is a queued unit of work, as delivered (S1).
type Task struct {
	ID          string            // unique in its namespace, fresh for every enqueue (S1.3)
	Queue       string            // the queue it was taken from or lives in
	Type        string            // the handler name; may be empty
	Key         string            // identity for dedupe and answers (S1.2)
	Payload     []byte            // byte for byte as enqueued (S1.1)
	Headers     map[string]string // nil when there are none
	Attempt     int               // 0 when first enqueued; +1 per release or reclaim
	MaxAttempts int               // the attempt count at which it is dead-lettered
	EnqueuedAt  time.Time         // on the backend's clock
}

// Message is a task to enqueue.
type Message struct {
	Type        string
	Key         string // the keyq package sets it to the payload when the user gives none
	Payload     []byte
	Headers     map[string]string
	MaxAttempts int // 1 to MaxAttemptsLimit
}

// MaxAttemptsLimit is the largest MaxAttempts a task may have.
const MaxAttemptsLimit = 1<<16 - 1

// Lease is one delivery of a task to one consumer (S4).
type Lease struct {
	Task
	// Token identifies this delivery. Ack, Release and Extend need it: a lease of an
	// earlier delivery of the same task no longer matches (S4.6).
	Token    string
	Deadline time.Time // on the backend's clock
}

// Answer is the stored result of a task (S5).
type Answer struct {
	Value []byte
	OK    bool          // true for a success, false for an error answer
	TTL   time.Duration // the full TTL it was stored with; > 0
	// Left is the time the answer had left to live when it was read, measured on
	// the backend's clock: 0 <= Left <= TTL. After a read with Refresh it is TTL.
	// GetAnswer fills it in; SetAnswer and Ack ignore it. It is a duration rather
	// than an expiry time because the backend's clock need not agree with the
	// caller's (S7.3): the caller's own clock plus Left is off by at most the
	// call's duration.
	Left time.Duration
}

// JobStatus is the state of a job record (S6.1).
type JobStatus string

// The job statuses. A record moves pending → running → one of the final ones;
// release and reclaim move it back to pending (S6.2).
const (
	StatusPending  JobStatus = "pending"
	StatusRunning  JobStatus = "running"
	StatusFinished JobStatus = "finished"
	StatusFailed   JobStatus = "failed"
	StatusTimeout  JobStatus = "timeout"
	StatusDead     JobStatus = "dead"
	// StatusCancelled: removed by Controller.Cancel while waiting, delayed or
	// leased (S12.2 to S12.4).
	StatusCancelled JobStatus = "cancelled"
)

// Final reports whether s is a final status.
func (s JobStatus) Final() bool {
	switch s {
	case StatusFinished, StatusFailed, StatusTimeout, StatusDead, StatusCancelled:
		return true
	}
	return false
}

// Job is a task's job record (S6.1). Times are zero until they happen.
type Job struct {
	ID     string
	Queue  string
	Type   string
	Status JobStatus
	// Attempts counts the task's deliveries that started: 0 until the first one,
	// and the delivered Task.Attempt + 1 from the moment a delivery starts. So a
	// task that finished on its first delivery reads 1, one that failed once and
	// then finished reads 2, one dead-lettered after the failure of its third
	// delivery (MaxAttempts 3) reads 3, and one dropped by dedupe (S3.2) before
	// any delivery reads 0. A release with KeepAttempt takes its delivery back
	// out of the count, and RequeueDead starts the count again at 0: while a task
	// waits, Attempts is the Task.Attempt its next delivery will carry.
	Attempts   int
	EnqueuedAt time.Time
	StartedAt  time.Time // the last delivery
	EndedAt    time.Time // when it reached a final status
	LastError  string
}

// QueueStats counts the tasks of one queue (S9.1).
type QueueStats struct {
	Waiting int64 // ready to be delivered
	Leased  int64
	Delayed int64
	Dead    int64
	Paused  bool // deliveries stopped by Controller.Pause (S12.1)
}

// Counters are a namespace's running totals (S9.2). Delivered counts leases handed
// out; Deduped counts tasks dropped on dequeue because their key had an answer.
type Counters struct {
	Enqueued  int64
	Delivered int64
	Acked     int64
	Released  int64
	Reclaimed int64
	Deduped   int64
	Dead      int64
	Cancelled int64 // tasks removed or leases ended by Controller.Cancel (S12)
}

// Stats is the answer to a Stats call.
type Stats struct {
	Queues   map[string]QueueStats // every queue asked for, or every known queue
	Counters Counters
}

// DeadTask is a dead-lettered task (S4.7).
type DeadTask struct {
	Task
	Reason string
	DiedAt time.Time
}

// DelayedTask is a delayed task, not yet due (S12.5).
type DelayedTask struct {
	Task
	Due time.Time // when it becomes available, on the backend's clock
}

// ExtendResult is what an Extend did with one lease.
type ExtendResult struct {
	// Deadline is the lease's new deadline, or the zero time when the lease had
	// expired or ended.
	Deadline time.Time
	// Cancelled reports a lease that Controller.Cancel ended (S12.4); Deadline
	// is then zero. A driver reports it at least until the lease's deadline as
	// it was when cancelled.
	Cancelled bool
}

// CancelResult is what a Cancel did.
type CancelResult uint8

// The results of a Cancel.
const (
	CancelRemoved CancelResult = iota + 1 // the task was waiting or delayed, and is gone
	CancelRunning                         // the task was leased; its lease ended
)

// String returns "removed" or "running".
func (r CancelResult) String() string {
	switch r {
	case CancelRemoved:
		return "removed"
	case CancelRunning:
		return "running"
	}
	return fmt.Sprintf("CancelResult(%d)", uint8(r))
}

// DequeueResult is what a Dequeue returns.
type DequeueResult struct {
	Leases  []Lease
	Deduped int // tasks dropped by this call because their key had an answer (S3.2)
	// Next is how long from now, on the backend's clock, until the namespace's
	// earliest delayed task is due or its earliest lease deadline passes: when a
	// Dequeue may find tasks that no Wake announces. Zero when there is neither;
	// else at least a millisecond. Only an empty result needs it.
	Next time.Duration
}
