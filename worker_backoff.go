package keyq

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// BackoffFunc says how long a task that failed with a transient error waits before
// it is offered again. attempt is the task's attempt count for the delivery that
// failed (Task.Attempt: 0 on the first). A result of 0 or less puts it back at the
// head of its queue at once. A Worker may call it from several goroutines at once.
type BackoffFunc func(attempt int, err error) time.Duration

// The bounds of DefaultWorkerBackoff.
const (
	DefaultWorkerBackoffBase = time.Second
	DefaultWorkerBackoffMax  = 10 * time.Minute
)

// defaultBackoff is DefaultWorkerBackoff's function, made once.
var defaultBackoff = Jitter(ExponentialBackoff(DefaultWorkerBackoffBase, DefaultWorkerBackoffMax), nil)

// DefaultWorkerBackoff is the backoff of a Worker without WorkerConfig.Backoff: the
// Jitter of ExponentialBackoff(DefaultWorkerBackoffBase, DefaultWorkerBackoffMax).
// The retry after the failure of attempt n waits a random time between d/2 and d,
// where d is 1s * 2^n up to 10 minutes: 0.5 to 1s after the first failure, 1 to
// 2s after the second, and 5 to 10 minutes from the eleventh on. With the default
// of 25 attempts, a task that always fails is dead-lettered after about 1.3 to 2.6
// hours, and while it waits the tasks behind it run.
//
// The jitter spreads the retries of tasks that failed together, for example on an
// outage of a service they call, so that they do not all come back at once.
func DefaultWorkerBackoff(attempt int, err error) time.Duration {
	return defaultBackoff(attempt, err)
}

// ImmediateBackoff puts a failed task back at the head of its queue at once:
// WorkerConfig{Backoff: ImmediateBackoff} turns backoff off.
func ImmediateBackoff(int, error) time.Duration { return 0 }

// ExponentialBackoff returns a BackoffFunc that waits base, then twice as long for
// every further attempt, but never more than max.
func ExponentialBackoff(base, max time.Duration) BackoffFunc {
	return func(attempt int, _ error) time.Duration {
		if base <= 0 {
			return 0
		}
		f := float64(base) * math.Pow(2, float64(attempt))
		if f > float64(max) || math.IsInf(f, 0) {
			return max
		}
		return time.Duration(f)
	}
}

// Jitter returns a BackoffFunc that, where f gives a delay d > 0, waits a random
// time between d/2 and d instead ("equal jitter": never less than half of d, so a
// failing task cannot come straight back). A result of f that is 0 or less is
// returned as it is. The random numbers come from r, which Jitter guards with a
// mutex, so that a seeded r gives the same delays in the same order of calls; nil
// means the global source of math/rand/v2.
func Jitter(f BackoffFunc, r *rand.Rand) BackoffFunc {
	draw := rand.Int64N
	if r != nil {
		var mu sync.Mutex
		draw = func(n int64) int64 {
			mu.Lock()
			defer mu.Unlock()
			return r.Int64N(n)
		}
	}
	return func(attempt int, err error) time.Duration {
		d := f(attempt, err)
		if d <= 0 {
			return d
		}
		lo := d - d/2 // at least 1 for d >= 1
		return lo + time.Duration(draw(int64(d-lo)+1))
	}
}
