package keyq

import (
	"fmt"
	"strings"
	"time"
)

// Headers whose names start with ReservedHeaderPrefix belong to keyq: Enqueue and
// EnqueueBatch refuse a user header of that name with ErrInvalid (S7.6).
const ReservedHeaderPrefix = "keyq-"

// The reserved headers that carry a task's own time limits (S7.6, S7.7).
const (
	// HeaderTimeout holds the task's handler timeout, set by Timeout, as
	// time.Duration.String writes it.
	HeaderTimeout = ReservedHeaderPrefix + "timeout"
	// HeaderDeadline holds the task's deadline, set by Deadline, in RFC 3339
	// with nanoseconds, in UTC.
	HeaderDeadline = ReservedHeaderPrefix + "deadline"
)

// At makes the task available at t (S7.5): it becomes the delay t minus now,
// read on the caller's clock when Enqueue is called, and is then measured on the
// store's clock like any Delay (S7.2, S7.3): a caller whose clock is off by s
// gets its task s early or late. A t in the past means now. Of At and Delay, the
// later option wins.
func At(t time.Time) EnqueueOption {
	return enqueueOption(func(o *enqueueOptions) { o.delay = max(time.Until(t), 0) })
}

// Timeout bounds each handler call of the task to d, in place of the worker's
// WorkerConfig.Timeout (S7.6): the handler's context carries the deadline, and
// running over it counts as the worker's timeout does. d must be positive and at
// most MaxDuration.
func Timeout(d time.Duration) EnqueueOption {
	return enqueueOption(func(o *enqueueOptions) {
		if d <= 0 || d > MaxDuration {
			o.err = invalid("task timeout %v out of range (0, %v]", d, MaxDuration)
			return
		}
		reserve(o, HeaderTimeout, d.String())
	})
}

// Deadline sets the time after which the task must not run (S7.7), judged on the
// clock of the worker that takes it: a worker that takes it at or after t does
// not start it but acks it as timed out, with the last error and error answer
// "deadline exceeded", and does not retry it; a handler still running at t has
// its context cancelled with cause ErrTaskDeadline, with the same end. The
// handler's context carries t as its deadline. t must not be zero.
func Deadline(t time.Time) EnqueueOption {
	return enqueueOption(func(o *enqueueOptions) {
		if t.IsZero() {
			o.err = invalid("zero task deadline")
			return
		}
		reserve(o, HeaderDeadline, t.UTC().Format(time.RFC3339Nano))
	})
}

// reserve sets a reserved header of the enqueue.
func reserve(o *enqueueOptions, name, value string) {
	if o.headers == nil {
		o.headers = make(map[string]string)
	}
	o.headers[name] = value
}

// checkHeaders refuses user headers of a reserved name.
func checkHeaders(h map[string]string) error {
	for name := range h {
		if strings.HasPrefix(name, ReservedHeaderPrefix) {
			return invalid("header %q: the prefix %q is reserved", name, ReservedHeaderPrefix)
		}
	}
	return nil
}

// taskLimits reads the time limits a task carries: its own timeout (0: none)
// and its deadline (zero: none). A malformed value is an error: the task can
// never run as its producer meant.
func taskLimits(t *Task) (timeout time.Duration, deadline time.Time, err error) {
	if v, ok := t.Headers[HeaderTimeout]; ok {
		if timeout, err = time.ParseDuration(v); err != nil || timeout <= 0 {
			return 0, time.Time{}, fmt.Errorf("keyq: malformed header %s %q", HeaderTimeout, v)
		}
	}
	if v, ok := t.Headers[HeaderDeadline]; ok {
		if deadline, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return 0, time.Time{}, fmt.Errorf("keyq: malformed header %s %q", HeaderDeadline, v)
		}
	}
	return timeout, deadline, nil
}
