package keyq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A Scheduler enqueues tasks on schedules: cron expressions and fixed intervals
// (S11). Any number of processes may run the same schedules on the same
// namespace, for availability; the store, not a leader, keeps each tick to one
// task. Each tick's task has the key TickKey(name, tick) and is enqueued unique
// (S2.4), so every scheduler but the first gets ErrDuplicate for it (S11.1).
//
// The key stays taken while the task waits, is delayed or leased, and then for
// as long as its answer lives: the Worker always stores one, kept for the
// client's answer TTL after success and its error TTL after failure. A
// scheduler enqueues a tick only within its window after the tick (S11.2), and
// the window must be shorter than both TTLs, so a finished tick's answer still
// holds its key when the last scheduler reaches it. A task acked without an
// answer (Client.Ack without WithAnswer) or whose answer is deleted frees its
// key at once; for it, the schedule's last-run record (S11.4), which every
// scheduler reads before it enqueues, still stops a second run of a tick. What
// remains is a race: two schedulers that read the record before either wrote
// it, while the first one's task runs and finishes without an answer before the
// second's enqueue. Handlers that must never run twice should store an answer.
//
// Ticks are found on the scheduler's clock (SchedulerConfig.Clock); no rule needs the
// hosts' clocks to agree (S7.3). A host whose clock runs ahead by d enqueues
// each tick up to d early; one behind enqueues nothing new, since the tick's key
// is taken when it gets there, as long as d plus the window is shorter than the
// answer TTLs. A clock behind by more than the window, on the only scheduler
// running, enqueues every tick late by that much.
type Scheduler struct {
	c   *Client
	cfg schedulerConfig

	mu      sync.Mutex
	entries []*scheduled
	running bool
}

// scheduled is a schedule of a running scheduler.
type scheduled struct {
	Schedule
	tk   ticker
	done time.Time // the latest tick this scheduler settled: enqueued, found taken or skipped
}

// NewScheduler returns a scheduler that enqueues through c. Add schedules, then
// call Run.
func NewScheduler(c *Client, opts ...SchedulerOption) (*Scheduler, error) {
	if c == nil {
		return nil, fmt.Errorf("keyq: new scheduler: %w", invalid("nil client"))
	}
	cfg := schedulerConfig{clock: c.clock, window: min(DefaultScheduleWindow, min(c.cfg.answerTTL, c.cfg.errorTTL)/2)}
	for _, o := range opts {
		if o == nil {
			return nil, c.wrap("new scheduler", invalid("nil option"))
		}
		o.applyScheduler(&cfg)
	}
	if err := cfg.validate(c); err != nil {
		return nil, c.wrap("new scheduler", err)
	}
	return &Scheduler{c: c, cfg: cfg}, nil
}

// Add adds a schedule. A schedule that does not parse, a name already added, or
// an Add after Run started fails with ErrInvalid.
func (s *Scheduler) Add(sc Schedule) error {
	tk, err := sc.validate()
	if err != nil {
		return s.c.wrap("add schedule", err)
	}
	if sc.Queue == "" {
		sc.Queue = s.c.cfg.queues[0]
	}
	sc.Options = slices.Clone(sc.Options)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return s.c.wrap("add schedule", invalid("schedule %q: the scheduler is running", sc.Name))
	}
	for _, e := range s.entries {
		if e.Name == sc.Name {
			return s.c.wrap("add schedule", invalid("schedule %q added twice", sc.Name))
		}
	}
	s.entries = append(s.entries, &scheduled{Schedule: sc, tk: tk})
	return nil
}

// Next returns the first tick of the schedule called name after t, or the zero
// time when it has none; ok is false when no such schedule was added.
func (s *Scheduler) Next(name string, t time.Time) (next time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.Name == name {
			return e.tk.next(t), true
		}
	}
	return time.Time{}, false
}

// Run enqueues the schedules' ticks as they come due until ctx is done, then
// returns nil. A scheduler runs once; it fails with ErrInvalid without
// schedules or when it ran already. Errors of the store do not end it: the
// scheduler tries a failed tick again while it is within the window, and
// reports every try through SchedulerConfig.OnTick.
func (s *Scheduler) Run(ctx context.Context) error {
	if ctx == nil {
		return s.c.wrap("run scheduler", invalid("nil context"))
	}
	s.mu.Lock()
	if s.running || len(s.entries) == 0 {
		s.mu.Unlock()
		return s.c.wrap("run scheduler", invalid("a scheduler runs once, with at least one schedule"))
	}
	s.running = true
	s.mu.Unlock()

	now := s.cfg.clock.Now()
	for _, e := range s.entries {
		e.done = s.startAfter(e, now)
	}
	s.index(ctx)
	for ctx.Err() == nil {
		now := s.cfg.clock.Now()
		var wake time.Time
		for _, e := range s.entries {
			if w := s.look(ctx, e, now); !w.IsZero() && (wake.IsZero() || w.Before(wake)) {
				wake = w
			}
		}
		if wake.IsZero() {
			<-ctx.Done() // no schedule ticks again
			break
		}
		t := s.cfg.clock.TimerAt(wake)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
		}
	}
	return nil
}

// startAfter returns the time after which a schedule's ticks are due when the
// scheduler starts at now (S11.3).
func (s *Scheduler) startAfter(e *scheduled, now time.Time) time.Time {
	after := now.Add(-time.Nanosecond) // a tick at now is due, not missed
	if s.cfg.missed == MissedLatest {
		var latest time.Time
		for t := e.tk.next(now.Add(-s.cfg.window - time.Nanosecond)); !t.IsZero() && !t.After(now); t = e.tk.next(t) {
			latest = t
		}
		if !latest.IsZero() {
			after = latest.Add(-time.Nanosecond)
		}
	}
	return after
}

// look enqueues the schedule's ticks due at now, oldest first, and returns when
// to look again. Ticks older than the window are skipped (S11.2).
func (s *Scheduler) look(ctx context.Context, e *scheduled, now time.Time) time.Time {
	from := later(e.done, now.Add(-s.cfg.window-time.Nanosecond))
	for t := e.tk.next(from); !t.IsZero() && !t.After(now); t = e.tk.next(t) {
		if ctx.Err() != nil {
			return time.Time{}
		}
		if err := s.fire(ctx, e, t); err != nil {
			return now.Add(min(scheduleRetry, s.cfg.window/2))
		}
		e.done = t
	}
	e.done = later(e.done, from)
	return e.tk.next(later(e.done, now))
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// fire enqueues the task of tick t, unless the store or the schedule's record
// shows it enqueued already. It returns nil once the tick is settled, and the
// error of a try that should be made again.
func (s *Scheduler) fire(ctx context.Context, e *scheduled, t time.Time) error {
	tick := Tick{Schedule: e.Name, At: t}
	defer func() {
		if s.cfg.onTick != nil {
			s.cfg.onTick(tick)
		}
	}()
	rec, err := s.c.scheduleRecord(ctx, e.Name, false)
	switch {
	case err == nil && !rec.LastTick.Before(t):
		tick.Err = fmt.Errorf("keyq: schedule %q: tick %v: the last-run record shows tick %v: %w", e.Name, t, rec.LastTick, ErrDuplicate)
		return nil
	case err != nil && !errors.Is(err, ErrNotFound):
		tick.Err = err
		return err
	}
	opts := append(slices.Clip(e.Options), Key(TickKey(e.Name, t)), Unique())
	tick.ID, tick.Err = s.c.Enqueue(ctx, e.Queue, e.Payload, opts...)
	switch {
	case errors.Is(tick.Err, ErrDuplicate):
		return nil
	case tick.Err != nil:
		return tick.Err
	}
	if err := s.c.setScheduleRecord(ctx, e, t, tick.ID, s.cfg.clock.Now()); err != nil {
		tick.Err = fmt.Errorf("keyq: schedule %q: tick %v enqueued as %s, but its last-run record was not written: %w", e.Name, t, tick.ID, err)
	}
	return nil
}

// index adds the scheduler's schedules to the namespace's list of schedules, for
// tools. It is best effort: an error is reported through SchedulerConfig.OnTick with
// the zero tick, and the next run tries again.
func (s *Scheduler) index(ctx context.Context) {
	names := make([]string, len(s.entries))
	for i, e := range s.entries {
		names[i] = e.Name
	}
	if err := s.c.indexSchedules(ctx, names); err != nil && s.cfg.onTick != nil {
		s.cfg.onTick(Tick{Err: err})
	}
}
