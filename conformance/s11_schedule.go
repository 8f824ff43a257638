package conformance

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
)

func init() {
	register(
		test{name: "S11.1 each tick is enqueued once however many schedulers run it, and its key stays taken by its answer", fn: testScheduleOnce},
		test{name: "S11.2 a scheduler skips a tick it reaches later than its window", fn: testScheduleWindow},
		test{name: "S11.3 at start, MissedSkip enqueues no earlier tick and MissedLatest only the latest within the window", fn: testScheduleMissed},
		test{name: "S11.4 the last-run record lists the schedule and stops a second run of a tick whose key is free", fn: testScheduleRecord},
	)
}

// schedEpoch is a tick of every schedule of these tests (a whole minute). The
// schedulers' clocks are their own fake clocks, apart from the store's (S7.3).
var schedEpoch = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// everySecond is the schedule of these tests.
func everySecond(every time.Duration) keyq.Schedule {
	return keyq.Schedule{Name: "beat", Every: every, Queue: "q", Payload: []byte("beat")}
}

// scheduler runs a scheduler of sc through c on clk until the test ends, and
// returns the ticks it reports.
func (e *env) scheduler(c *keyq.Client, clk clock.Clock, sc keyq.Schedule, opts ...keyq.SchedulerOption) <-chan keyq.Tick {
	e.Helper()
	ticks := make(chan keyq.Tick, 64)
	ctx, cancel := context.WithCancel(e.ctx)
	s, err := keyq.NewScheduler(c, append([]keyq.SchedulerOption{keyq.SchedulerConfig{Clock: clk}, keyq.SchedulerConfig{OnTick: func(t keyq.Tick) {
		select {
		case ticks <- t:
		case <-ctx.Done():
		}
	}}}, opts...)...)
	if err != nil {
		cancel()
		e.Fatalf("NewScheduler: %v", err)
	}
	if err := s.Add(sc); err != nil {
		cancel()
		e.Fatalf("Add(%+v): %v", sc, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil {
			e.Errorf("Run: %v", err)
		}
	}()
	e.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return ticks
}

// tick waits for the next tick a scheduler reports, and checks its time.
func (e *env) tick(ticks <-chan keyq.Tick, at time.Time) keyq.Tick {
	e.Helper()
	t := receive(e, ticks, "a scheduler's report of tick "+at.String())
	if !t.At.Equal(at) {
		e.Fatalf("a scheduler reported tick %v (%v), want %v", t.At, t.Err, at)
	}
	return t
}

// idle waits until a scheduler on clk waits for a later tick: it has done all it
// would do at the clock's time.
func (e *env) idle(clk *clock.Fake) {
	e.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, patience)
	defer cancel()
	if err := clk.WaitTimers(ctx, 1); err != nil {
		e.Fatalf("the scheduler did not wait for its next tick within %v", patience)
	}
}

func testScheduleOnce(e *env) {
	c := e.client()
	sc := everySecond(time.Second)
	var chans []<-chan keyq.Tick
	for range 3 {
		chans = append(chans, e.scheduler(e.client(), clock.NewFake(schedEpoch), sc))
	}
	var id string
	for _, ch := range chans {
		switch t := e.tick(ch, schedEpoch); {
		case t.Err == nil && id == "":
			id = t.ID
		case t.Err == nil:
			e.Fatalf("tick %v enqueued twice, as %s and %s", t.At, id, t.ID)
		case !errors.Is(t.Err, keyq.ErrDuplicate):
			e.Fatalf("tick %v: %v", t.At, t.Err)
		}
	}
	if id == "" {
		e.Fatalf("tick %v: no scheduler enqueued it", schedEpoch)
	}
	// Without the last-run record, the store alone refuses the tick: its task
	// waits, and then its answer holds the key.
	e.forgetRecord(c, sc.Name)
	late := e.tick(e.scheduler(e.client(), clock.NewFake(schedEpoch), sc), schedEpoch)
	e.wantErr("a scheduler that reaches a waiting tick", late.Err, keyq.ErrDuplicate)
	l := e.next(c)
	if l.ID != id || l.Key != keyq.TickKey(sc.Name, schedEpoch) || string(l.Payload) != "beat" {
		e.Fatalf("delivered ID %s key %q payload %q, want ID %s key %q payload beat", l.ID, l.Key, l.Payload, id, keyq.TickKey(sc.Name, schedEpoch))
	}
	if name, at, ok := keyq.ScheduledTick(&l.Task); !ok || name != sc.Name || !at.Equal(schedEpoch) {
		e.Fatalf("ScheduledTick = %q, %v, %v; want %q, %v, true", name, at, ok, sc.Name, schedEpoch)
	}
	e.none(c)
	e.ack(c, l, keyq.WithAnswer("done"))
	e.forgetRecord(c, sc.Name)
	late = e.tick(e.scheduler(e.client(), clock.NewFake(schedEpoch), sc), schedEpoch)
	e.wantErr("a scheduler that reaches an answered tick", late.Err, keyq.ErrDuplicate)
	e.none(c)
}

// forgetRecord deletes the last-run record of the schedule called name, so that
// only the store's unique keys stand between a tick and a second task.
func (e *env) forgetRecord(c *keyq.Client, name string) {
	e.Helper()
	err := c.DeleteAnswer(e.ctx, "keyq:sched-last:"+name)
	e.skipIfUnsupported([]any{err})
	if err != nil && !errors.Is(err, keyq.ErrNotFound) {
		e.Fatalf("deleting the last-run record of %q: %v", name, err)
	}
}

func testScheduleWindow(e *env) {
	c := e.client()
	sc := everySecond(time.Minute)
	clk := clock.NewFake(schedEpoch.Add(30 * time.Second))
	ticks := e.scheduler(c, clk, sc, keyq.SchedulerConfig{Window: 10 * time.Second, Missed: keyq.MissedLatest})
	e.idle(clk) // tick schedEpoch is 30s old: beyond the window even for MissedLatest
	e.none(c)
	// The scheduler stalls past the next tick's window: it skips that tick too.
	clk.Advance(45 * time.Second) // schedEpoch + 1m15s
	e.idle(clk)
	e.none(c)
	next := schedEpoch.Add(2 * time.Minute)
	clk.Set(next.Add(10 * time.Second)) // late, and still within the window
	if t := e.tick(ticks, next); t.Err != nil {
		e.Fatalf("tick %v within the window: %v", next, t.Err)
	}
	if l := e.next(c); l.Key != keyq.TickKey(sc.Name, next) {
		e.Fatalf("delivered key %q, want %q", l.Key, keyq.TickKey(sc.Name, next))
	}
	e.none(c)
}

func testScheduleMissed(e *env) {
	sc := everySecond(time.Second)
	start := schedEpoch.Add(10*time.Second + 500*time.Millisecond)

	skip := e.clientOf(e.ns + " skip")
	clk := clock.NewFake(start)
	ticks := e.scheduler(skip, clk, sc, keyq.SchedulerConfig{Missed: keyq.MissedSkip})
	e.idle(clk)
	e.none(skip)
	clk.Advance(500 * time.Millisecond)
	e.tick(ticks, schedEpoch.Add(11*time.Second))

	latest := e.clientOf(e.ns + " latest")
	clk = clock.NewFake(start)
	ticks = e.scheduler(latest, clk, sc, keyq.SchedulerConfig{Missed: keyq.MissedLatest})
	if t := e.tick(ticks, schedEpoch.Add(10*time.Second)); t.Err != nil {
		e.Fatalf("the latest missed tick: %v", t.Err)
	}
	e.idle(clk)
	if l := e.next(latest); l.Key != keyq.TickKey(sc.Name, schedEpoch.Add(10*time.Second)) {
		e.Fatalf("delivered key %q, want the latest missed tick's, %q", l.Key, keyq.TickKey(sc.Name, schedEpoch.Add(10*time.Second)))
	}
	e.none(latest)
}

func testScheduleRecord(e *env) {
	c := e.client()
	sc := everySecond(time.Minute)
	t := e.tick(e.scheduler(e.client(), clock.NewFake(schedEpoch), sc), schedEpoch)
	if t.Err != nil {
		e.Fatalf("tick %v: %v", schedEpoch, t.Err)
	}
	infos, err := e.client().Schedules(e.ctx)
	if err != nil {
		e.Fatalf("Schedules: %v", err)
	}
	if len(infos) != 1 || infos[0].Name != sc.Name || !infos[0].LastTick.Equal(schedEpoch) || infos[0].LastID != t.ID || infos[0].Queue != "q" || infos[0].Timing != "@every 1m0s" {
		e.Fatalf("Schedules = %+v, want one, %q, last tick %v as %s in queue q, timing @every 1m0s", infos, sc.Name, schedEpoch, t.ID)
	}
	if next := infos[0].Next; next.IsZero() || !next.Truncate(time.Minute).Equal(next) {
		e.Fatalf("Schedules: next run %v, want a whole minute (the client's clock is not the scheduler's)", next)
	}
	// Acked without an answer, the task frees its key; the record still stops a
	// second scheduler that reaches the same tick.
	e.ack(c, e.next(c))
	again := e.tick(e.scheduler(e.client(), clock.NewFake(schedEpoch), sc), schedEpoch)
	e.wantErr("a tick whose key is free, at or before the recorded last tick", again.Err, keyq.ErrDuplicate)
	e.none(c)
}
