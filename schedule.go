package keyq

import (
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is one periodic task of a Scheduler: every tick of Cron, or of Every,
// enqueues Payload into Queue (S11).
//
// A tick is an instant, the same for every process that runs the schedule, and
// names its task: the task's key is TickKey(Name, tick), and the scheduler
// enqueues it unique, so the store keeps each tick to one task however many
// schedulers run the schedule (S11.1).
type Schedule struct {
	// Name identifies the schedule in its namespace. It must not be empty, and
	// every scheduler that runs the same schedule must give it the same name.
	Name string
	// Cron is a cron expression: five fields (minute hour day-of-month month
	// day-of-week), six with seconds first, or a descriptor such as "@hourly" or
	// "@every 90s". A "CRON_TZ=Zone " or "TZ=Zone " prefix sets its time zone.
	// It is parsed by github.com/robfig/cron/v3. "@every d" ticks as Every does.
	Cron string
	// Every ticks at each whole multiple of Every since the Unix epoch (with
	// Every = 5m: 12:00, 12:05, ...), so schedulers started at different times
	// agree on the ticks. Set Cron or Every, not both. It is at least 1ms, whole
	// milliseconds.
	Every time.Duration
	// Location is the time zone of a Cron without a zone prefix. Nil is UTC, not
	// the host's zone, so hosts set to different zones agree on the ticks.
	Location *time.Location
	// Queue receives the tasks; empty is the client's first queue.
	Queue string
	// Payload is every tick's payload.
	Payload []byte
	// Options apply to every tick's enqueue (Type, Header, MaxAttempts, Delay,
	// AtHead). The scheduler sets Key and Unique itself, after them.
	Options []EnqueueOption
}

// tickKeyPrefix starts the key of every scheduled tick's task, and
// scheduleRecordPrefix the key of the answer that records a schedule's last run.
// They differ so that no schedule name makes one the other.
const (
	tickKeyPrefix        = "keyq:sched:"
	scheduleRecordPrefix = "keyq:sched-last:"
	scheduleIndexKey     = "keyq:sched-index"
)

// TickKey returns the key of the task that the tick of the schedule called name
// enqueues: "keyq:sched:<name>:<tick in Unix milliseconds>".
func TickKey(name string, tick time.Time) string {
	return tickKeyPrefix + name + ":" + strconv.FormatInt(tick.UnixMilli(), 10)
}

// ScheduledTick reports the schedule and the tick of a task a Scheduler enqueued,
// read from its key; ok is false for any other task.
func ScheduledTick(t *Task) (name string, tick time.Time, ok bool) {
	if t == nil || !strings.HasPrefix(t.Key, tickKeyPrefix) {
		return "", time.Time{}, false
	}
	rest := t.Key[len(tickKeyPrefix):]
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", time.Time{}, false
	}
	ms, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[:i], time.UnixMilli(ms).UTC(), true
}

// cronParser takes five fields, six with seconds first, and descriptors.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ticker finds the ticks of a schedule.
type ticker struct {
	every time.Duration // > 0: epoch-aligned interval
	spec  cron.Schedule // else
	loc   *time.Location
}

// newTicker parses the timing of s, or returns an ErrInvalid error.
func newTicker(s *Schedule) (ticker, error) {
	switch {
	case s.Cron != "" && s.Every != 0:
		return ticker{}, invalid("schedule %q: both Cron and Every are set", s.Name)
	case s.Cron == "" && s.Every == 0:
		return ticker{}, invalid("schedule %q: neither Cron nor Every is set", s.Name)
	}
	tk := ticker{every: s.Every, loc: s.Location}
	if tk.loc == nil {
		tk.loc = time.UTC
	}
	if s.Cron != "" {
		spec, err := cronParser.Parse(s.Cron)
		if err != nil {
			return ticker{}, invalid("schedule %q: cron %q: %v", s.Name, s.Cron, err)
		}
		if d, ok := spec.(cron.ConstantDelaySchedule); ok {
			tk.every = d.Delay // "@every": aligned to the epoch, not to the start
		} else {
			tk.spec = spec
		}
	}
	if tk.spec == nil && (tk.every < time.Millisecond || tk.every > MaxDuration || tk.every%time.Millisecond != 0) {
		return ticker{}, invalid("schedule %q: interval %v is not whole milliseconds in [1ms, %v]", s.Name, tk.every, MaxDuration)
	}
	return tk, nil
}

// next returns the first tick after t, or the zero time if there is none (a cron
// expression that matches no date, such as February 30th).
func (tk ticker) next(t time.Time) time.Time {
	if tk.every > 0 {
		ms, every := t.UnixMilli(), tk.every.Milliseconds()
		if t.Before(time.UnixMilli(ms)) { // t before the epoch, mid-millisecond
			ms--
		}
		n := ms / every
		if ms < 0 && ms%every != 0 {
			n-- // floor
		}
		return time.UnixMilli((n + 1) * every).UTC()
	}
	n := tk.spec.Next(t.In(tk.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// timing returns the schedule's timing as its record shows it.
func (s *Schedule) timing() string {
	if s.Cron != "" {
		return s.Cron
	}
	return "@every " + s.Every.String()
}

// validate checks s and returns its ticker.
func (s *Schedule) validate() (ticker, error) {
	if s.Name == "" {
		return ticker{}, invalid("schedule with an empty name")
	}
	for _, o := range s.Options {
		if o == nil {
			return ticker{}, invalid("schedule %q: nil enqueue option", s.Name)
		}
	}
	tk, err := newTicker(s)
	if err != nil {
		return tk, err
	}
	if tk.next(time.Now()).IsZero() {
		return tk, invalid("schedule %q: cron %q never fires", s.Name, s.Cron)
	}
	return tk, nil
}
