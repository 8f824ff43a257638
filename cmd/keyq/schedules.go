package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/keyq/keyq"
)

func cmdSchedules(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq schedules [flags]", `
Schedules lists the periodic tasks that keyq Schedulers ran on the namespace,
sorted by name: the timing, the queue, the last tick enqueued with its task ID
and the time it was enqueued (on that scheduler's clock), and the next tick by
this host's clock, all in UTC. A schedule shows once a scheduler enqueued one
of its ticks, and as long as its record lives: the answer TTL of the scheduler's
client since its last tick.`)
	s := storeFlags(fs.FlagSet)
	args, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return fs.badUsage("unexpected arguments %q", args)
	}
	if err := s.check(fs); err != nil {
		return err
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	infos, err := c.Schedules(ctx)
	if err != nil {
		return err
	}
	if s.json {
		for _, info := range infos {
			j := scheduleJSON{ScheduleInfo: info}
			if !info.Next.IsZero() {
				j.Next = &info.Next
			}
			if err := writeJSON(env.Stdout, j); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTIMING\tQUEUE\tLAST TICK\tLAST ID\tENQUEUED\tNEXT")
	for _, info := range infos {
		next := "never"
		if !info.Next.IsZero() {
			next = stamp(info.Next)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", plain(info.Name), info.Timing, plain(info.Queue), stamp(info.LastTick), plain(info.LastID), stamp(info.LastRun), next)
	}
	return tw.Flush()
}

// scheduleJSON is a line of keyq schedules --json.
type scheduleJSON struct {
	keyq.ScheduleInfo
	Next *time.Time `json:"next,omitempty"`
}

// stamp formats t in UTC to the millisecond.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
