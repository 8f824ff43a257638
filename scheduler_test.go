package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/memory"
)

// schedulers runs n schedulers of one schedule, each on its own client from
// newClient, and returns the channel of their ticks, each tagged with the
// scheduler's number. They stop when the test ends.
func schedulers(t *testing.T, n int, newClient func(i int) *keyq.Client, sc keyq.Schedule, opts ...keyq.SchedulerOption) <-chan taggedTick {
	t.Helper()
	ticks := make(chan taggedTick, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for i := range n {
		s, err := keyq.NewScheduler(newClient(i), append(opts, keyq.SchedulerConfig{OnTick: func(tk keyq.Tick) {
			select {
			case ticks <- taggedTick{i, tk}:
			case <-ctx.Done():
			}
		}})...)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add(sc); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				t.Errorf("scheduler %d: Run: %v", i, err)
			}
		}()
	}
	return ticks
}

type taggedTick struct {
	scheduler int
	keyq.Tick
}

// tickLedger checks that each tick was enqueued by exactly one scheduler and
// found taken by all others.
type tickLedger struct {
	n       int
	byTick  map[time.Time][]taggedTick
	started map[int]time.Time // each scheduler's first tick
}

func newLedger(n int) *tickLedger {
	return &tickLedger{n: n, byTick: map[time.Time][]taggedTick{}, started: map[int]time.Time{}}
}

func (l *tickLedger) add(t *testing.T, tk taggedTick) {
	t.Helper()
	if tk.At.IsZero() {
		t.Fatalf("scheduler %d: %v", tk.scheduler, tk.Err)
	}
	if tk.Err != nil && !errors.Is(tk.Err, keyq.ErrDuplicate) {
		t.Fatalf("scheduler %d, tick %v: %v", tk.scheduler, tk.At, tk.Err)
	}
	if _, ok := l.started[tk.scheduler]; !ok {
		l.started[tk.scheduler] = tk.At
	}
	l.byTick[tk.At] = append(l.byTick[tk.At], tk)
}

// complete reports whether every scheduler reported tick at.
func (l *tickLedger) complete(at time.Time) bool { return len(l.byTick[at]) == l.n }

// check fails t unless tick at was enqueued by exactly one scheduler, reported
// once by each, and returns the ID of its task.
func (l *tickLedger) check(t *testing.T, at time.Time) string {
	t.Helper()
	var ids []string
	seen := map[int]bool{}
	for _, tk := range l.byTick[at] {
		if seen[tk.scheduler] {
			t.Fatalf("tick %v: scheduler %d reported it twice", at, tk.scheduler)
		}
		seen[tk.scheduler] = true
		if tk.Err == nil {
			ids = append(ids, tk.ID)
		}
	}
	if len(ids) != 1 || len(seen) != l.n {
		t.Fatalf("tick %v: enqueued by %d schedulers (IDs %q), reported by %d of %d; want enqueued once, reported by all", at, len(ids), ids, len(seen), l.n)
	}
	return ids[0]
}

// wantQueue fails t unless queue holds exactly one task per tick of want, with
// the tick's key and ID, and nothing else.
func wantTickQueue(t *testing.T, c *keyq.Client, queue, name string, want map[time.Time]string) {
	t.Helper()
	tasks, err := c.Peek(context.Background(), queue, 0, len(want)+10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{} // key: IDs
	for _, task := range tasks {
		got[task.Key] = append(got[task.Key], task.ID)
	}
	for at, id := range want {
		key := keyq.TickKey(name, at)
		if ids := got[key]; len(ids) != 1 || ids[0] != id {
			t.Errorf("tick %v: tasks %q with key %q in the queue, want the one the scheduler reported, %q", at, ids, key, id)
		}
		delete(got, key)
	}
	if len(got) > 0 || len(tasks) != len(want) {
		t.Errorf("the queue holds %d tasks, want %d; keys not of a checked tick: %v", len(tasks), len(want), got)
	}
}

// TestSchedulerExactlyOnceMemory runs 5 schedulers of a 1s schedule on one memory
// backend for 10,000 ticks of a fake clock: each tick is enqueued once, by one
// of them, and each of them reports each tick (S11.1).
func TestSchedulerExactlyOnceMemory(t *testing.T) {
	const n, ticks = 5, 10_000
	start := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(start)
	b := memory.New(memory.WithClock(clk))
	t.Cleanup(func() { b.Close() })
	newClient := func(int) *keyq.Client {
		c, err := keyq.New(b, "sched", keyq.JobTracking(false))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sc := keyq.Schedule{Name: "every-second", Every: time.Second, Queue: "q", Payload: []byte("tick")}
	ch := schedulers(t, n, newClient, sc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := clk.WaitTimers(ctx, n); err != nil {
		t.Fatalf("the %d schedulers did not all wait for their first tick: %v", n, err)
	}
	l := newLedger(n)
	want := make(map[time.Time]string, ticks)
	for k := 0; k < ticks; k++ { // start is a tick, due when they start
		if k > 0 {
			clk.Advance(time.Second)
		}
		at := start.Add(time.Duration(k) * time.Second).UTC()
		for !l.complete(at) {
			select {
			case tk := <-ch:
				l.add(t, tk)
			case <-ctx.Done():
				t.Fatalf("tick %d (%v): %d of %d schedulers reported it before the deadline", k, at, len(l.byTick[at]), n)
			}
		}
		want[at] = l.check(t, at)
		delete(l.byTick, at)
	}
	if len(l.byTick) > 0 {
		t.Fatalf("ticks reported that the clock never reached: %v", l.byTick)
	}
	wantTickQueue(t, newClient(0), "q", sc.Name, want)
}

// TestSchedulerExactlyOnceRedis runs 5 schedulers, each with its own connection,
// of a 1s schedule against one real redis-server for 30 ticks of the host's
// clock: each tick after all of them started is enqueued once (S11.1).
func TestSchedulerExactlyOnceRedis(t *testing.T) {
	const n, ticks = 5, 30
	url := redistest.URL(t)
	ns := namespace(t)
	newClient := func(int) *keyq.Client {
		c, err := keyq.New(newRedisBackend(t, url), ns, keyq.OpTimeout(waitFor))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sc := keyq.Schedule{Name: "every-second", Every: time.Second, Queue: "q", Payload: []byte("tick")}
	ch := schedulers(t, n, newClient, sc, keyq.SchedulerConfig{Clock: clock.Real()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l := newLedger(n)
	var first time.Time // the first tick every scheduler reported
	want := map[time.Time]string{}
	for len(want) < ticks {
		select {
		case tk := <-ch:
			l.add(t, tk)
		case <-ctx.Done():
			t.Fatalf("after %d of %d ticks: schedulers that reported a first tick: %v; ticks incomplete: %v", len(want), ticks, l.started, pendingTicks(l))
		}
		if first.IsZero() && len(l.started) == n {
			for _, at := range l.started {
				first = laterTick(first, at)
			}
		}
		for !first.IsZero() && len(want) < ticks {
			at := first.Add(time.Duration(len(want)) * time.Second)
			if !l.complete(at) {
				break
			}
			want[at] = l.check(t, at)
		}
	}
	// The ticks before first were enqueued too, by some of the schedulers; the
	// queue must hold each of them once as well.
	for at, tks := range l.byTick {
		if at.Before(first) {
			var ids []string
			for _, tk := range tks {
				if tk.Err == nil {
					ids = append(ids, tk.ID)
				}
			}
			if len(ids) != 1 {
				t.Fatalf("tick %v before all schedulers ran: enqueued %d times (%q)", at, len(ids), ids)
			}
			want[at] = ids[0]
		}
	}
	cancel()
	c := newClient(0)
	tasks, err := c.Peek(context.Background(), "q", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, task := range tasks {
		if seen[task.Key] {
			t.Fatalf("two tasks with key %q in the queue", task.Key)
		}
		seen[task.Key] = true
	}
	for at := range want {
		if !seen[keyq.TickKey(sc.Name, at)] {
			t.Errorf("tick %v reported enqueued, but its task is not in the queue", at)
		}
	}
}

func laterTick(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func pendingTicks(l *tickLedger) string {
	var s []string
	for at, tks := range l.byTick {
		if len(tks) < l.n {
			s = append(s, fmt.Sprintf("%v: %d", at.Format(time.TimeOnly), len(tks)))
		}
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
