package keyq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ScheduleInfo is what the store knows of a schedule: its last run, as the
// scheduler that enqueued it recorded it, and its next tick (S11.4).
type ScheduleInfo struct {
	Name     string    `json:"name"`
	Timing   string    `json:"timing"`   // the cron expression, or "@every d"
	Location string    `json:"location"` // the zone of a cron expression without one
	Queue    string    `json:"queue"`
	LastTick time.Time `json:"last_tick"` // the latest tick enqueued (see Scheduler)
	LastID   string    `json:"last_id"`   // its task's ID
	LastRun  time.Time `json:"last_run"`  // when it was enqueued, on its scheduler's clock
	// Next is the first tick after the time Schedules read, on the client's
	// clock; zero when the timing no longer parses or never fires again.
	Next time.Time `json:"-"`
}

// Schedules returns what the store records of the schedules Schedulers ran on
// the namespace, sorted by name (S11.4). The records are answers under reserved
// keys ("keyq:sched-index" and "keyq:sched-last:<name>"), kept for the answer
// TTL of the client that wrote them after each tick; a schedule that ticks less
// often shows no last run once its record expired.
func (c *Client) Schedules(ctx context.Context) ([]ScheduleInfo, error) {
	names, err := c.scheduleIndex(ctx, false)
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	infos := make([]ScheduleInfo, 0, len(names))
	for _, name := range names {
		info, err := c.scheduleRecord(ctx, name, false)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // indexed, never ticked, or expired
		case err != nil:
			return nil, err
		}
		info.Next = info.next(now)
		infos = append(infos, info)
	}
	return infos, nil
}

// next returns the first tick of the recorded timing after now.
func (info *ScheduleInfo) next(now time.Time) time.Time {
	loc, err := time.LoadLocation(info.Location)
	if err != nil {
		return time.Time{}
	}
	tk, err := newTicker(&Schedule{Name: info.Name, Cron: info.Timing, Location: loc})
	if err != nil {
		return time.Time{}
	}
	return tk.next(now)
}

// scheduleRecord reads the last-run record of the schedule called name.
func (c *Client) scheduleRecord(ctx context.Context, name string, refresh bool) (ScheduleInfo, error) {
	var info ScheduleInfo
	a, err := c.getAnswer(ctx, scheduleRecordPrefix+name, refresh)
	if err != nil {
		return info, err
	}
	if err := a.Decode(&info); err != nil {
		return info, c.wrap("schedule record", fmt.Errorf("schedule %q: the record under %q is not a schedule's: %w", name, scheduleRecordPrefix+name, err))
	}
	return info, nil
}

// setScheduleRecord records the run of tick t as the schedule's last.
func (c *Client) setScheduleRecord(ctx context.Context, e *scheduled, t time.Time, id string, now time.Time) error {
	loc := "UTC"
	if e.Location != nil {
		loc = e.Location.String()
	}
	info := ScheduleInfo{Name: e.Name, Timing: e.timing(), Location: loc, Queue: e.Queue, LastTick: t, LastID: id, LastRun: now.UTC()}
	if err := c.SetAnswer(ctx, scheduleRecordPrefix+e.Name, info); err != nil {
		return err
	}
	return c.indexSchedules(ctx, []string{e.Name})
}

// scheduleIndex reads the names of the schedules the namespace has seen.
func (c *Client) scheduleIndex(ctx context.Context, refresh bool) ([]string, error) {
	var names []string
	a, err := c.getAnswer(ctx, scheduleIndexKey, refresh)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if err := a.Decode(&names); err != nil {
		return nil, c.wrap("schedule index", fmt.Errorf("the record under %q is not a list of schedules: %w", scheduleIndexKey, err))
	}
	return names, nil
}

// indexSchedules adds names to the namespace's list of schedules, and keeps the
// list alive for another answer TTL. Two schedulers that add different names at
// once may lose one of them until its next tick adds it again.
func (c *Client) indexSchedules(ctx context.Context, names []string) error {
	have, err := c.scheduleIndex(ctx, true)
	if err != nil {
		return err
	}
	n := len(have)
	for _, name := range names {
		if !slices.Contains(have, name) {
			have = append(have, name)
		}
	}
	if len(have) == n {
		return nil
	}
	slices.Sort(have)
	return c.SetAnswer(ctx, scheduleIndexKey, have)
}
