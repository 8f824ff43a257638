package keyq

import (
	"context"
	"fmt"
	"time"

	"github.com/keyq/keyq/backend"
)

// The errors keyq returns, matched with errors.Is. The driver's own error stays
// reachable with errors.As (S8.1).
var (
	ErrInvalid     = backend.ErrInvalid     // bad input; nothing changed
	ErrNotFound    = backend.ErrNotFound    // no such answer, job record, dead task, or task to delete or cancel
	ErrDuplicate   = backend.ErrDuplicate   // a unique enqueue found its key taken
	ErrLeaseLost   = backend.ErrLeaseLost   // the lease expired or ended
	ErrLeased      = backend.ErrLeased      // Delete of a running task: Cancel it instead
	ErrCancelled   = backend.ErrCancelled   // a running task was cancelled by ID: its handler's context cause
	ErrTimeout     = backend.ErrTimeout     // out of time; also matches context.DeadlineExceeded
	ErrUnavailable = backend.ErrUnavailable // the store cannot be reached
	ErrClosed      = backend.ErrClosed      // the backend is closed
	ErrFull        = backend.ErrFull        // the store is out of memory; nothing changed
	// ErrNotReplicated: the change was made, but fewer replicas than asked for
	// confirmed it in time; it may be lost if the store fails over.
	ErrNotReplicated = backend.ErrNotReplicated
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// wrap names the operation and the namespace in err, and makes any deadline an
// ErrTimeout (backend.Deadline).
func (c *Client) wrap(op string, err error) error {
	return fmt.Errorf("keyq: %s %q: %w", op, c.ns, backend.Deadline(err))
}

// malformed reports a driver reply that breaks the contract: it is an error,
// never taken for a result.
func malformed(format string, args ...any) error {
	return fmt.Errorf("malformed reply from the driver: "+format, args...)
}

// call runs f with the operation timeout, extended by extra for calls that wait, and
// wraps its error.
func call[T any](c *Client, ctx context.Context, op string, extra time.Duration, f func(context.Context) (T, error)) (T, error) {
	var zero T
	if ctx == nil {
		return zero, c.wrap(op, invalid("nil context"))
	}
	if d := c.cfg.opTimeout + extra; d > extra { // no timeout when the sum overflows
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	v, err := f(ctx)
	if err != nil {
		return v, c.wrap(op, err)
	}
	return v, nil
}
