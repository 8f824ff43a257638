package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

func newSchedClient(t *testing.T, opts ...keyq.Option) *keyq.Client {
	t.Helper()
	b := memory.New()
	t.Cleanup(func() { b.Close() })
	c, err := keyq.New(b, "sched", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestScheduleNext checks the ticks of each kind of timing.
func TestScheduleNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		sc       keyq.Schedule
		from     string
		want     string
		wantNext string
	}{
		{keyq.Schedule{Cron: "*/15 * * * *"}, "2030-01-01T12:07:00Z", "2030-01-01T12:15:00Z", "2030-01-01T12:30:00Z"},
		{keyq.Schedule{Cron: "30 */15 * * * *"}, "2030-01-01T12:15:30Z", "2030-01-01T12:30:30Z", "2030-01-01T12:45:30Z"}, // seconds first
		{keyq.Schedule{Cron: "@hourly"}, "2030-01-01T12:00:00Z", "2030-01-01T13:00:00Z", "2030-01-01T14:00:00Z"},
		{keyq.Schedule{Cron: "0 9 * * *"}, "2030-01-01T00:00:00Z", "2030-01-01T09:00:00Z", "2030-01-02T09:00:00Z"},                   // UTC, not the host's zone
		{keyq.Schedule{Cron: "0 9 * * *", Location: berlin}, "2030-01-01T00:00:00Z", "2030-01-01T08:00:00Z", "2030-01-02T08:00:00Z"}, // CET
		{keyq.Schedule{Cron: "CRON_TZ=Europe/Berlin 0 9 * * *"}, "2030-07-01T00:00:00Z", "2030-07-01T07:00:00Z", "2030-07-02T07:00:00Z"},
		{keyq.Schedule{Cron: "TZ=Europe/Berlin 0 9 * * *", Location: time.UTC}, "2030-07-01T00:00:00Z", "2030-07-01T07:00:00Z", "2030-07-02T07:00:00Z"},
		{keyq.Schedule{Every: 5 * time.Minute}, "2030-01-01T12:03:17Z", "2030-01-01T12:05:00Z", "2030-01-01T12:10:00Z"}, // aligned to the epoch
		{keyq.Schedule{Cron: "@every 5m"}, "2030-01-01T12:03:17Z", "2030-01-01T12:05:00Z", "2030-01-01T12:10:00Z"},
		{keyq.Schedule{Every: 250 * time.Millisecond}, "2030-01-01T12:00:00.25Z", "2030-01-01T12:00:00.5Z", "2030-01-01T12:00:00.75Z"},
		{keyq.Schedule{Every: time.Hour}, "1969-12-31T22:30:00Z", "1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z"}, // before the epoch
	} {
		name := fmt.Sprintf("%q/%v/%v", tc.sc.Cron, tc.sc.Every, tc.sc.Location)
		s, err := keyq.NewScheduler(newSchedClient(t))
		if err != nil {
			t.Fatal(err)
		}
		tc.sc.Name = "s"
		if err := s.Add(tc.sc); err != nil {
			t.Fatalf("%s: Add: %v", name, err)
		}
		got, ok := s.Next("s", at(tc.from))
		if !ok || !got.Equal(at(tc.want)) {
			t.Errorf("%s: Next(%s) = %v, %v; want %s", name, tc.from, got, ok, tc.want)
		}
		if got, _ = s.Next("s", got); !got.Equal(at(tc.wantNext)) {
			t.Errorf("%s: the tick after %s is %v, want %s", name, tc.want, got, tc.wantNext)
		}
	}
}

// TestScheduleInvalid checks that bad schedules and options are ErrInvalid and
// add nothing.
func TestScheduleInvalid(t *testing.T) {
	c := newSchedClient(t)
	s, err := keyq.NewScheduler(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []keyq.Schedule{
		{Cron: "* * * * *"}, // no name
		{Name: "x"},         // no timing
		{Name: "x", Cron: "* * * * *", Every: time.Second},
		{Name: "x", Cron: "61 * * * *"},
		{Name: "x", Cron: "* * * *"},
		{Name: "x", Cron: "CRON_TZ=Nowhere/Never * * * * *"},
		{Name: "x", Cron: "0 0 30 2 *"}, // February 30th
		{Name: "x", Every: -time.Second},
		{Name: "x", Every: 1500 * time.Microsecond},
		{Name: "x", Every: time.Second, Options: []keyq.EnqueueOption{nil}},
	} {
		if err := s.Add(sc); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("Add(%+v) = %v, want ErrInvalid", sc, err)
		}
	}
	if err := s.Add(keyq.Schedule{Name: "x", Every: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(keyq.Schedule{Name: "x", Every: time.Minute}); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("a second schedule named x: %v, want ErrInvalid", err)
	}
	for _, opts := range [][]keyq.SchedulerOption{
		{nil},
		{keyq.SchedulerConfig{Window: -time.Second}},
		{keyq.SchedulerConfig{Window: time.Hour}}, // the error answer TTL: a finished tick's key could be free
		{keyq.SchedulerConfig{Missed: 7}},
	} {
		if _, err := keyq.NewScheduler(c, opts...); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("NewScheduler with %d options: %v, want ErrInvalid", len(opts), err)
		}
	}
	if _, err := keyq.NewScheduler(nil); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("NewScheduler(nil): %v, want ErrInvalid", err)
	}
	empty, _ := keyq.NewScheduler(c)
	if err := empty.Run(context.Background()); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("Run without schedules: %v, want ErrInvalid", err)
	}
}

// TestSchedulerRetriesFailedTick checks that a tick whose enqueue failed is tried
// again within the window, and that Run outlives the store's errors.
func TestSchedulerRetriesFailedTick(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	b := memory.New(memory.WithClock(clk))
	c, err := keyq.New(b, "sched")
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan keyq.Tick, 16)
	s, err := keyq.NewScheduler(c, keyq.SchedulerConfig{OnTick: func(tk keyq.Tick) { ticks <- tk }})
	if err != nil {
		t.Fatal(err)
	}
	// The payload is over the client's maximum only for the first tries: a
	// stand-in for a store that fails, since Enqueue refuses it.
	if err := s.Add(keyq.Schedule{Name: "m", Every: time.Minute, Queue: "q", Payload: []byte("x"), Options: []keyq.EnqueueOption{keyq.MaxAttempts(0)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	first := <-ticks
	if first.Err == nil || errors.Is(first.Err, keyq.ErrDuplicate) {
		t.Fatalf("first try: %+v, want the enqueue's error", first)
	}
	if err := clk.WaitTimers(ctx, 1); err != nil {
		t.Fatal("the scheduler did not wait to try again")
	}
	clk.Advance(time.Second)
	if again := <-ticks; !again.At.Equal(first.At) || again.Err == nil {
		t.Fatalf("second try: %+v, want tick %v failing again", again, first.At)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	b.Close()
}
