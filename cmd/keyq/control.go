package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/keyq/keyq"
)

// The commands that control queued and running work (S12): pause, resume,
// cancel, delete and delayed.

func cmdPause(ctx context.Context, args []string, env *Env) error {
	return pauseOrResume(ctx, args, env, "pause", `
Pause stops deliveries from the named queues: workers and consumers of the
namespace, in every process, take nothing from them, and take from their other
queues instead. Enqueues go on, so tasks pile up, waiting. The state is kept in
the store until "keyq resume", and "keyq stats" shows it. Pausing a paused queue
changes nothing.`)
}

func cmdResume(ctx context.Context, args []string, env *Env) error {
	return pauseOrResume(ctx, args, env, "resume", `
Resume starts deliveries from the named paused queues again; waiting workers
take from them without a restart. Resuming a queue that is not paused changes
nothing.`)
}

func pauseOrResume(ctx context.Context, args []string, env *Env, name, doc string) error {
	fs := newFlags(env, "keyq "+name+" [flags] queue...", doc)
	s := storeFlags(fs.FlagSet)
	queues, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(queues) == 0 {
		return fs.badUsage("name at least one queue")
	}
	for _, q := range queues {
		if err := checkQueue(fs, q); err != nil {
			return err
		}
	}
	if err := s.check(fs); err != nil {
		return err
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	if name == "pause" {
		err = c.Pause(ctx, queues...)
	} else {
		err = c.Resume(ctx, queues...)
	}
	if err != nil {
		return err
	}
	past := map[string]string{"pause": "paused", "resume": "resumed"}[name]
	for _, q := range queues {
		if s.json {
			err = writeJSON(env.Stdout, map[string]string{"queue": q, "state": past})
		} else {
			_, err = fmt.Fprintf(env.Stdout, "%s %s\n", past, strconv.Quote(q))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func cmdCancel(ctx context.Context, args []string, env *Env) error {
	return cancelOrDelete(ctx, args, env, "cancel", `
Cancel ends a task by its ID, wherever it is: a waiting or delayed task is
removed; a running one has its lease ended in the store at once, is never
delivered again, and the worker running it cancels its handler's context with
the cause keyq.ErrCancelled. It prints "removed" or "cancelled while running".
The task's job record ends with status cancelled. A task that is not waiting,
delayed or running (unknown, done, dead) is an error (exit status 1).`)
}

func cmdDelete(ctx context.Context, args []string, env *Env) error {
	return cancelOrDelete(ctx, args, env, "delete", `
Delete removes a waiting or delayed task by its ID: it is never delivered. Its
job record ends with status cancelled. A running task is left alone and is an
error (exit status 1): "keyq cancel" ends it. So is a task that is not waiting
or delayed (unknown, done, dead).`)
}

func cancelOrDelete(ctx context.Context, args []string, env *Env, name, doc string) error {
	fs := newFlags(env, "keyq "+name+" [flags] task-ID", doc)
	s := storeFlags(fs.FlagSet)
	args, err := fs.parse(args)
	if err != nil {
		return err
	}
	id, err := oneTaskID(fs, args)
	if err != nil {
		return err
	}
	if err := s.check(fs); err != nil {
		return err
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	r := keyq.CancelRemoved
	if name == "cancel" {
		r, err = c.Cancel(ctx, id)
	} else {
		err = c.Delete(ctx, id)
	}
	switch {
	case errors.Is(err, keyq.ErrLeased):
		return fmt.Errorf("task %s is running in namespace %s: keyq cancel ends it (%w)", id, strconv.Quote(s.ns), keyq.ErrLeased)
	case errors.Is(err, keyq.ErrNotFound) && name == "delete":
		return &notFound{"waiting or delayed task " + id, s.ns}
	case errors.Is(err, keyq.ErrNotFound):
		return &notFound{"waiting, delayed or running task " + id, s.ns}
	case err != nil:
		return err
	}
	result := map[keyq.CancelResult]string{keyq.CancelRemoved: "removed", keyq.CancelRunning: "cancelled while running"}[r]
	if s.json {
		return writeJSON(env.Stdout, map[string]string{"id": id, "result": r.String()})
	}
	_, err = fmt.Fprintf(env.Stdout, "%s %s\n", result, id)
	return err
}

func cmdDelayed(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq delayed [flags]", `
Delayed shows the delayed tasks that are not yet due, earliest due first, with
the time each becomes available (on the store's clock, in UTC): tasks enqueued
with a delay or a time, and failed tasks waiting out their retry backoff. Those
of every queue, or of the queue named by --queue. It changes nothing.`)
	s := storeFlags(fs.FlagSet)
	queue := fs.String("queue", "", "the queue (default every queue)")
	offset := fs.Int("offset", 0, "skip this many tasks from the earliest due")
	count := fs.Int("count", 20, "show up to this many tasks")
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
	if fs.isSet("queue") {
		if err := checkQueue(fs, *queue); err != nil {
			return err
		}
	}
	if err := checkWindow(fs, *offset, *count); err != nil {
		return err
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	ts, err := c.Delayed(ctx, *queue, *offset, *count)
	if err != nil {
		return err
	}
	if s.json {
		for _, t := range ts {
			if err := writeJSON(env.Stdout, delayedJSON{toJSON(t.Task), jsonTime(t.Due)}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "ID\tQUEUE\tTYPE\tATTEMPT\tDUE\tKEY\tPAYLOAD")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", t.ID, strconv.Quote(t.Queue), t.Type, t.Attempt,
			at(t.Due, time.RFC3339Nano), show([]byte(t.Key), 40), show(t.Payload, 60))
	}
	return tw.Flush()
}

// delayedJSON is a delayed task.
type delayedJSON struct {
	taskJSON
	Due *time.Time `json:"due"`
}
