package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
)

// TestSchedules runs a scheduler for one tick, then lists it, on each store.
func TestSchedules(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			h := store(t)
			if out := h.ok(t, "", "schedules"); len(lines(out)) != 1 {
				t.Fatalf("keyq schedules on a namespace without schedules printed\n%s\nwant the header only", out)
			}
			tick := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
			clk := clock.NewFake(tick)
			ticked := make(chan keyq.Tick, 1)
			s, err := keyq.NewScheduler(h.q, keyq.SchedulerConfig{Clock: clk, OnTick: func(tk keyq.Tick) { ticked <- tk }})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Add(keyq.Schedule{Name: "daily report", Cron: "0 12 * * *", Queue: "q"}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			go s.Run(ctx)
			var tk keyq.Tick
			select {
			case tk = <-ticked:
			case <-ctx.Done():
				t.Fatal("the scheduler did not tick within a minute")
			}
			if tk.Err != nil {
				t.Fatalf("tick: %v", tk.Err)
			}
			cancel()

			out := lines(h.ok(t, "", "schedules"))
			var f []string
			if len(out) == 2 {
				f = strings.Fields(out[1])
			}
			if len(f) != 12 || strings.Join(f[:8], " ") != `"daily report" 0 12 * * * q` || f[8] != "2030-01-01T12:00:00.000Z" || f[9] != tk.ID || !strings.HasSuffix(f[11], "T12:00:00.000Z") {
				t.Fatalf("keyq schedules printed\n%s\nwant the schedule, its tick %v as %s, and a next run at noon", strings.Join(out, "\n"), tick, tk.ID)
			}
			var j struct {
				Name     string    `json:"name"`
				Timing   string    `json:"timing"`
				LastTick time.Time `json:"last_tick"`
				LastID   string    `json:"last_id"`
				Next     time.Time `json:"next"`
			}
			if err := json.Unmarshal([]byte(h.ok(t, "", "schedules", "--json")), &j); err != nil {
				t.Fatal(err)
			}
			if j.Name != "daily report" || j.Timing != "0 12 * * *" || !j.LastTick.Equal(tick) || j.LastID != tk.ID || j.Next.IsZero() || j.Next.Hour() != 12 {
				t.Fatalf("keyq schedules --json = %+v", j)
			}
		})
	}
}
