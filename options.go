package keyq

import (
	"slices"
	"time"

	"github.com/keyq/keyq/backend"
)

// Defaults of a Client, each changed by the Option of the same name.
const (
	DefaultQueue       = "default"
	DefaultOpTimeout   = 5 * time.Second
	DefaultLease       = 30 * time.Second
	DefaultAnswerTTL   = 24 * time.Hour
	DefaultErrorTTL    = time.Hour
	DefaultMaxAttempts = 25
	DefaultJobTTL      = time.Hour
	DefaultMaxPayload  = 64 << 20
)

// The limits of what a caller may pass; beyond them a call fails with ErrInvalid
// and changes nothing.
const (
	// MaxDuration is the longest duration keyq takes: a delay, lease, wait, answer
	// TTL, job TTL, operation timeout or rate interval (100 years). Durations are
	// kept in whole milliseconds, rounded up: an answer's TTL reads back rounded up
	// to the millisecond, and a lease or delay may last up to 1 ms longer than
	// asked, never shorter (backend.Millis).
	MaxDuration = backend.MaxDuration
	// MaxCount is the largest Batch of a Dequeue (and WorkerConfig.Batch), the most
	// requests of one AckBatch, and the largest burst of a rate limit. Peek, Leases
	// and Dead take any count and offset and return the window that exists.
	MaxCount = backend.MaxCount
)

type config struct {
	queues      []string
	opTimeout   time.Duration
	lease       time.Duration
	answerTTL   time.Duration
	errorTTL    time.Duration
	maxAttempts int
	trackJobs   bool
	jobTTL      time.Duration
	maxPayload  int
	noCoalesce  bool // see Coalesce

	enqueueHooks []EnqueueHook // see OnEnqueue
}

func defaults() config {
	return config{
		queues:      []string{DefaultQueue},
		opTimeout:   DefaultOpTimeout,
		lease:       DefaultLease,
		answerTTL:   DefaultAnswerTTL,
		errorTTL:    DefaultErrorTTL,
		maxAttempts: DefaultMaxAttempts,
		trackJobs:   true,
		jobTTL:      DefaultJobTTL,
		maxPayload:  DefaultMaxPayload,
	}
}

func (c *config) validate() error {
	if len(c.queues) == 0 {
		return invalid("no queues")
	}
	for _, q := range c.queues {
		if q == "" {
			return invalid("empty queue name")
		}
	}
	for _, d := range []struct {
		what string
		d    time.Duration
	}{{"operation timeout", c.opTimeout}, {"lease", c.lease}, {"answer TTL", c.answerTTL}, {"error answer TTL", c.errorTTL}, {"job TTL", c.jobTTL}} {
		if d.d <= 0 || d.d > MaxDuration {
			return invalid("%s %v out of range (0, %v]", d.what, d.d, MaxDuration)
		}
	}
	if c.maxAttempts < 1 || c.maxAttempts > backend.MaxAttemptsLimit {
		return invalid("max attempts %d out of range 1 to %d", c.maxAttempts, backend.MaxAttemptsLimit)
	}
	if c.maxPayload < 1 {
		return invalid("max payload %d is not positive", c.maxPayload)
	}
	for _, h := range c.enqueueHooks {
		if h == nil {
			return invalid("nil enqueue hook")
		}
	}
	return nil
}

// Option configures a Client: an argument of New. Queues, LeaseFor and
// MaxAttempts are options of a call too, for that call.
type Option interface{ applyClient(*config) }

type clientOption func(*config)

func (f clientOption) applyClient(c *config) { f(c) }

// QueuesOption is what Queues returns: an Option and a DequeueOption.
type QueuesOption struct{ names []string }

// Queues sets the queues that Dequeue serves, highest priority first (S3.1): as an
// Option of New, the client's, one queue "default" unless set; as a
// DequeueOption, those of the one call.
func Queues(names ...string) QueuesOption { return QueuesOption{slices.Clone(names)} }

func (o QueuesOption) applyClient(c *config)          { c.queues = slices.Clone(o.names) }
func (o QueuesOption) applyDequeue(d *dequeueOptions) { d.p.Queues = slices.Clone(o.names) }

// LeaseOption is what LeaseFor returns: an Option and a DequeueOption.
type LeaseOption struct{ d time.Duration }

// LeaseFor sets how long a dequeued task stays leased before it comes back by
// itself (S4.1, S4.5): as an Option of New, for every Dequeue of the client (30s
// unless set); as a DequeueOption, for the tasks of the one call.
func LeaseFor(d time.Duration) LeaseOption { return LeaseOption{d} }

func (o LeaseOption) applyClient(c *config)          { c.lease = o.d }
func (o LeaseOption) applyDequeue(d *dequeueOptions) { d.p.Lease = o.d }

// MaxAttemptsOption is what MaxAttempts returns: an Option and an EnqueueOption.
type MaxAttemptsOption struct{ n int }

// MaxAttempts sets the attempt count at which a task is dead-lettered instead of
// put back (S4.7): as an Option of New, for every task the client enqueues (25
// unless set); as an EnqueueOption, for the tasks of the one call.
func MaxAttempts(n int) MaxAttemptsOption { return MaxAttemptsOption{n} }

func (o MaxAttemptsOption) applyClient(c *config)          { c.maxAttempts = o.n }
func (o MaxAttemptsOption) applyEnqueue(e *enqueueOptions) { e.maxAttempts = o.n }

// OpTimeout bounds every call to the backend (S7.1); a shorter context deadline
// wins. A waiting Dequeue gets its wait on top. The default is 5s.
func OpTimeout(d time.Duration) Option { return clientOption(func(c *config) { c.opTimeout = d }) }

// AnswerTTL sets how long answers are kept: ok for success answers, failed for
// error answers (S5.1). The defaults are 24h and 1h.
func AnswerTTL(ok, failed time.Duration) Option {
	return clientOption(func(c *config) { c.answerTTL, c.errorTTL = ok, failed })
}

// JobTracking switches job records on or off (S6.4). They are on by default; off
// saves a write per state change.
func JobTracking(on bool) Option { return clientOption(func(c *config) { c.trackJobs = on }) }

// JobTTL sets how long a job record lives once final (S6.3). The default is 1h.
func JobTTL(d time.Duration) Option { return clientOption(func(c *config) { c.jobTTL = d }) }

// MaxPayload sets the largest payload Enqueue accepts, in bytes (S1.5). The default
// is 64 MiB.
func MaxPayload(n int) Option { return clientOption(func(c *config) { c.maxPayload = n }) }
