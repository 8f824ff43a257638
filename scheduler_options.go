package keyq

import (
	"time"

	"github.com/keyq/keyq/clock"
)

// Missed says what a scheduler does, when it starts, with the ticks that came due
// before it started (S11.3). Ticks that come due while it runs are enqueued
// whatever the policy, as long as the scheduler reaches them within its window.
type Missed int

const (
	// MissedSkip enqueues no tick that came due before the scheduler started: a
	// schedule whose every scheduler was down misses those ticks, as cron,
	// asynq's scheduler and River's periodic jobs do.
	MissedSkip Missed = iota
	// MissedLatest enqueues, at start, the latest tick that came due before the
	// scheduler started, if it is within the window; earlier ones are skipped.
	// If another scheduler enqueued it already, the store refuses it (S11.1).
	MissedLatest
)

// DefaultScheduleWindow is how late a scheduler may enqueue a tick by default.
const DefaultScheduleWindow = time.Minute

// scheduleRetry is how long a scheduler waits before it tries a tick again whose
// enqueue failed, at most half its window.
const scheduleRetry = time.Second

type schedulerConfig struct {
	clock  clock.Clock
	window time.Duration
	missed Missed
	onTick func(Tick)
}

// SchedulerOption configures a Scheduler. SchedulerConfig is the one there is.
type SchedulerOption interface {
	applyScheduler(*schedulerConfig)
}

// SchedulerConfig configures a Scheduler, as WorkerConfig does a Worker: a zero
// field keeps its default, and several configs given to NewScheduler apply in
// order.
type SchedulerConfig struct {
	// Clock is the clock the scheduler reads to find its ticks and waits on. The
	// default is the client's: the backend's clock when it has one
	// (backend.Clocked, such as a memory backend on a fake clock), else the
	// host's. The store's clock plays no part (S7.3, S11.4).
	Clock clock.Clock
	// Window is how late, by the scheduler's clock, it may still enqueue a tick
	// (S11.2): every tick it reaches within the window is enqueued, oldest
	// first, several at once after a stall; a tick it reaches later than that
	// (the process stalled, the store was unreachable) is skipped, and not
	// reported. The window must be shorter than both answer TTLs of the client,
	// which keep a finished tick's key taken (S11.1). The default is
	// DefaultScheduleWindow, or half the shorter answer TTL if that is less.
	Window time.Duration
	// Missed is the policy for ticks that came due before the scheduler started
	// (S11.3). The default is MissedSkip.
	Missed Missed
	// OnTick, when set, is called in the scheduler's own goroutine for every tick
	// it tried: to log, count or test. It must not block for long.
	OnTick func(Tick)
}

func (c SchedulerConfig) applyScheduler(s *schedulerConfig) {
	if c.Clock != nil {
		s.clock = c.Clock
	}
	if c.Window != 0 {
		s.window = c.Window
	}
	if c.Missed != MissedSkip {
		s.missed = c.Missed
	}
	if c.OnTick != nil {
		s.onTick = c.OnTick
	}
}

// Tick is what one scheduler did with one tick of a schedule.
type Tick struct {
	Schedule string
	At       time.Time // the tick, in UTC
	// ID is the task's ID when this scheduler enqueued it.
	ID string
	// Err is nil when this scheduler enqueued the tick's task. It matches
	// ErrDuplicate when the tick was enqueued already, by this or another
	// scheduler (the store refused it, or the schedule's last-run record shows
	// it). With an ID, the task is enqueued but the last-run record could not be
	// written. Any other error is the enqueue's: the scheduler tries the tick
	// again while it is within the window. A Tick with a zero At reports that
	// the namespace's list of schedules, read by Client.Schedules, could not be
	// updated when the scheduler started.
	Err error
}

func (c *schedulerConfig) validate(cl *Client) error {
	if isNil(c.clock) {
		return invalid("nil scheduler clock")
	}
	if c.missed != MissedSkip && c.missed != MissedLatest {
		return invalid("unknown missed-tick policy %d", c.missed)
	}
	if ttl := min(cl.cfg.answerTTL, cl.cfg.errorTTL); c.window <= 0 || c.window >= ttl {
		return invalid("schedule window %v out of range (0, %v): it must be shorter than the answer TTLs", c.window, ttl)
	}
	return nil
}
