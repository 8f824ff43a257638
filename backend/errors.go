package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// The errors every driver reports. Drivers wrap them with the cause, for example
// fmt.Errorf("%w: %w", backend.ErrUnavailable, err), so that callers match the
// sentinel with errors.Is and still reach the driver's own error with errors.As.
// A driver never returns its private sentinels (such as redis.Nil) unwrapped.
var (
	// ErrInvalid reports bad input. The call changed nothing.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound reports a missing answer, job record or dead task.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate reports a unique enqueue whose key is answered, waiting or leased.
	ErrDuplicate = errors.New("duplicate task")
	// ErrLeaseLost reports an Ack, Release or Extend on a lease that has expired or
	// ended. The call changed nothing.
	ErrLeaseLost = errors.New("lease lost")
	// ErrLeased reports a Cancel without Running, or a keyq Delete, of a task
	// that is leased: it is running, and only a cancel can end it (S12.3). The
	// call changed nothing.
	ErrLeased = errors.New("task is leased")
	// ErrCancelled reports a task cancelled by ID while it ran (S12.4): it is
	// the cause of its handler's context (context.Cause), and the error of an
	// Extend of its lease.
	ErrCancelled = errors.New("task cancelled")
	// ErrUnavailable reports that the store cannot be reached.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrClosed reports a call on a closed backend or client.
	ErrClosed = errors.New("closed")
	// ErrFull reports that the store refused to write because it is out of
	// memory (for Redis, used memory over maxmemory with the noeviction policy).
	// The call changed nothing. Calls that only read keep working; calls that
	// write work again once the store has room.
	ErrFull = errors.New("store full: out of memory")
	// ErrNotReplicated reports a change that the store made but that fewer
	// replicas than asked for (the Redis driver's Options.WaitReplicas) confirmed
	// in time. The call's other results stand: the change is there, on the
	// master, and may be lost if the master fails before a replica has it. Doing
	// it again is safe where the change is idempotent: a unique enqueue (which then
	// reports ErrDuplicate if the first one survived), an answer set again, a dead
	// task requeued again; an ack done again reports ErrLeaseLost if the first one
	// survived.
	ErrNotReplicated = errors.New("change not confirmed by replicas")
	// ErrTimeout reports an operation that ran out of time. It also matches
	// context.DeadlineExceeded under errors.Is.
	ErrTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string { return "timeout" }

// Is makes ErrTimeout match context.DeadlineExceeded.
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Timeout reports true, as net.Error does for timeouts.
func (timeoutError) Timeout() bool { return true }

// Deadline returns err marked as ErrTimeout when it reports a deadline, of a
// context (context.DeadlineExceeded) or of the network (a net.Error whose
// Timeout is true), and err unchanged otherwise. It is the one place a deadline
// becomes ErrTimeout: drivers and the keyq package both call it.
func Deadline(err error) error {
	if err == nil || errors.Is(err, ErrTimeout) {
		return err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// CtxErr returns the error of a done ctx as the contract reports it: a deadline
// as ErrTimeout (which still matches context.DeadlineExceeded), a cancellation as
// context.Canceled. It returns nil while ctx is live.
func CtxErr(ctx context.Context) error { return Deadline(ctx.Err()) }

// Check begins a driver call: a nil ctx is ErrInvalid, then invalid, the error
// of the call's parameters' Validate method (nil for a call without any), then a
// done ctx's CtxErr. Drivers call it first in every method, as
// backend.Check(ctx, p.Validate()) (S1.5, S8.4, S8.10): passing the error rather
// than the parameters keeps them off the heap.
func Check(ctx context.Context, invalid error) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalid)
	}
	if invalid != nil {
		return invalid
	}
	return CtxErr(ctx)
}

// Unsupported returns an error matching errors.ErrUnsupported for a call that
// needs an optional interface the driver does not implement.
func Unsupported(what string) error {
	return fmt.Errorf("%s: %w", what, errors.ErrUnsupported)
}
