package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/keyq/keyq"
)

// store holds the flags every inspection command shares.
type store struct {
	url  string
	ns   string
	json bool
}

func storeFlags(fs *flag.FlagSet) *store {
	s := &store{}
	fs.StringVar(&s.url, "redis", "", redisURLHelp)
	fs.StringVar(&s.ns, "namespace", "default", "the keyq namespace")
	fs.BoolVar(&s.json, "json", false, "print JSON, one object a line, for scripts")
	return s
}

// open opens the store and returns a client on the namespace, and a function that
// closes the store.
func (s *store) open(ctx context.Context, env *Env) (*keyq.Client, func(), error) {
	b, err := env.Open(ctx, s.url)
	if err != nil {
		return nil, nil, err
	}
	c, err := keyq.New(b, s.ns)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return c, func() { b.Close() }, nil
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func writeJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// queuesFlag collects repeated --queue flags.
type queuesFlag []string

func (q *queuesFlag) String() string     { return strings.Join(*q, ",") }
func (q *queuesFlag) Set(v string) error { *q = append(*q, v); return nil }

func cmdStats(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq stats [flags]", `
Stats counts the waiting, leased, delayed and dead tasks of each queue of the
namespace (every queue it has seen, or those named by --queue), and prints the
namespace's counters: enqueued, delivered, acked, released, reclaimed, deduped, dead.`)
	s := storeFlags(fs)
	var queues queuesFlag
	fs.Var(&queues, "queue", "a queue to count (repeatable; default every known queue)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return badUsage(fs, "keyq stats: unexpected arguments %q", fs.Args())
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	st, err := c.Stats(ctx, queues...)
	if err != nil {
		return err
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range st.Queues {
			if !yield(n) {
				return
			}
		}
	})
	k := st.Counters
	if s.json {
		type qs struct {
			Waiting int64 `json:"waiting"`
			Leased  int64 `json:"leased"`
			Delayed int64 `json:"delayed"`
			Dead    int64 `json:"dead"`
		}
		out := struct {
			Namespace string        `json:"namespace"`
			Queues    map[string]qs `json:"queues"`
			Counters  any           `json:"counters"`
		}{s.ns, map[string]qs{}, map[string]int64{
			"enqueued": k.Enqueued, "delivered": k.Delivered, "acked": k.Acked, "released": k.Released,
			"reclaimed": k.Reclaimed, "deduped": k.Deduped, "dead": k.Dead,
		}}
		for n, q := range st.Queues {
			out.Queues[n] = qs{q.Waiting, q.Leased, q.Delayed, q.Dead}
		}
		return writeJSON(env.Stdout, out)
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "QUEUE\tWAITING\tLEASED\tDELAYED\tDEAD")
	for _, n := range names {
		q := st.Queues[n]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", strconv.Quote(n), q.Waiting, q.Leased, q.Delayed, q.Dead)
	}
	fmt.Fprintf(tw, "\nNAMESPACE\tENQUEUED\tDELIVERED\tACKED\tRELEASED\tRECLAIMED\tDEDUPED\tDEAD\n")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", strconv.Quote(s.ns),
		k.Enqueued, k.Delivered, k.Acked, k.Released, k.Reclaimed, k.Deduped, k.Dead)
	return tw.Flush()
}

// taskJSON is a task as printed by --json. The payload is a string when it is
// UTF-8, and payload_base64 otherwise.
type taskJSON struct {
	ID            string            `json:"id"`
	Queue         string            `json:"queue"`
	Type          string            `json:"type,omitempty"`
	Key           string            `json:"key"`
	Payload       *string           `json:"payload,omitempty"`
	PayloadBase64 string            `json:"payload_base64,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Attempt       int               `json:"attempt"`
	EnqueuedAt    time.Time         `json:"enqueued_at"`
	Reason        string            `json:"reason,omitempty"`
	DiedAt        *time.Time        `json:"died_at,omitempty"`
}

func toJSON(t keyq.Task) taskJSON {
	j := taskJSON{ID: t.ID, Queue: t.Queue, Type: t.Type, Key: t.Key, Headers: t.Headers,
		Attempt: t.Attempt, EnqueuedAt: t.EnqueuedAt}
	if utf8.Valid(t.Payload) {
		p := string(t.Payload)
		j.Payload = &p
	} else {
		j.PayloadBase64 = base64.StdEncoding.EncodeToString(t.Payload)
	}
	return j
}

// show quotes b for a table, cut to n bytes.
func show(b []byte, n int) string {
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}

func cmdPeek(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq peek [flags]", `
Peek shows the waiting tasks of a queue from its head, without taking them.`)
	s := storeFlags(fs)
	queue := fs.String("queue", keyq.DefaultQueue, "the queue")
	offset := fs.Int("offset", 0, "skip this many tasks from the head")
	count := fs.Int("count", 20, "show up to this many tasks")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return badUsage(fs, "keyq peek: unexpected arguments %q", fs.Args())
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	ts, err := c.Peek(ctx, *queue, *offset, *count)
	if err != nil {
		return err
	}
	if s.json {
		for _, t := range ts {
			if err := writeJSON(env.Stdout, toJSON(t)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "ID\tTYPE\tATTEMPT\tENQUEUED\tKEY\tPAYLOAD")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", t.ID, t.Type, t.Attempt,
			t.EnqueuedAt.UTC().Format(time.RFC3339), show([]byte(t.Key), 40), show(t.Payload, 60))
	}
	return tw.Flush()
}

func cmdDead(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq dead list|requeue|purge [flags] [task ID...]", `
Dead works on the namespace's dead-lettered tasks:

	keyq dead list [--offset n] [--count n]   show them, oldest first
	keyq dead requeue (--all | ID...)         put them back at the tail of their queues
	keyq dead purge (--all | ID...)           delete them

Requeue and purge print how many tasks they moved or deleted; unknown IDs are
skipped.`)
	s := storeFlags(fs)
	offset := fs.Int("offset", 0, "list: skip this many dead tasks")
	count := fs.Int("count", 20, "list: show up to this many dead tasks")
	all := fs.Bool("all", false, "requeue, purge: every dead task")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parse(fs, args); err != nil {
			return err
		}
		return badUsage(fs, "keyq dead: missing action: list, requeue or purge")
	}
	action := args[0]
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	ids := fs.Args()
	switch action {
	case "list":
		if len(ids) > 0 {
			return badUsage(fs, "keyq dead list: unexpected arguments %q", ids)
		}
	case "requeue", "purge":
		if *all == (len(ids) > 0) {
			return badUsage(fs, "keyq dead %s: give either --all or task IDs", action)
		}
	default:
		return badUsage(fs, "keyq dead: unknown action %q: want list, requeue or purge", action)
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	if action == "list" {
		ds, err := c.Dead(ctx, *offset, *count)
		if err != nil {
			return err
		}
		if s.json {
			for _, d := range ds {
				j := toJSON(d.Task)
				j.Reason, j.DiedAt = d.Reason, &d.DiedAt
				if err := writeJSON(env.Stdout, j); err != nil {
					return err
				}
			}
			return nil
		}
		tw := table(env.Stdout)
		fmt.Fprintln(tw, "ID\tQUEUE\tATTEMPT\tDIED\tREASON\tPAYLOAD")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, strconv.Quote(d.Queue), d.Attempt,
				d.DiedAt.UTC().Format(time.RFC3339), show([]byte(d.Reason), 60), show(d.Payload, 60))
		}
		return tw.Flush()
	}
	var n int
	switch {
	case action == "requeue" && *all:
		n, err = c.RequeueAllDead(ctx)
	case action == "requeue":
		n, err = c.RequeueDead(ctx, ids...)
	case *all:
		n, err = c.PurgeAllDead(ctx)
	default:
		n, err = c.PurgeDead(ctx, ids...)
	}
	if err != nil {
		return err
	}
	verb := map[string]string{"requeue": "requeued", "purge": "purged"}[action]
	if s.json {
		return writeJSON(env.Stdout, map[string]int{verb: n})
	}
	_, err = fmt.Fprintf(env.Stdout, "%s %d dead tasks\n", verb, n)
	return err
}

func cmdEnqueue(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq enqueue [flags] [payload...]", `
Enqueue appends one task per payload argument to the tail of a queue, or, with no
arguments, one task per non-empty line read from stdin, all or none. It prints the new task IDs, one a
line. A task's key is its payload unless --key is given.`)
	s := storeFlags(fs)
	queue := fs.String("queue", keyq.DefaultQueue, "the queue")
	key := fs.String("key", "", "the tasks' key (default: each task's payload)")
	typ := fs.String("type", "", "the tasks' type, the handler name")
	head := fs.Bool("head", false, "put the tasks at the head of the queue, as LPUSH would")
	delay := fs.Duration("delay", 0, "make the tasks available only after this long")
	unique := fs.Bool("unique", false, "refuse a task whose key is answered, waiting or leased")
	if err := parse(fs, args); err != nil {
		return err
	}
	payloads := fs.Args()
	if len(payloads) == 0 {
		sc := bufio.NewScanner(env.Stdin)
		sc.Buffer(make([]byte, 64<<10), keyq.DefaultMaxPayload)
		for sc.Scan() {
			if sc.Text() != "" {
				payloads = append(payloads, sc.Text())
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
	}
	if len(payloads) == 0 {
		return errors.New("no tasks: give payloads as arguments or lines on stdin")
	}
	opts := []keyq.EnqueueOption{keyq.Key(*key), keyq.Type(*typ), keyq.Delay(*delay)}
	if *head {
		opts = append(opts, keyq.AtHead())
	}
	if *unique {
		opts = append(opts, keyq.Unique())
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	msgs := make([]keyq.Message, len(payloads))
	for i, p := range payloads {
		msgs[i].Payload = []byte(p)
	}
	ids, err := c.EnqueueBatch(ctx, *queue, msgs, opts...)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if s.json {
			err = writeJSON(env.Stdout, map[string]string{"id": id})
		} else {
			_, err = fmt.Fprintln(env.Stdout, id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func cmdAnswer(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq answer get|delete [flags] key", `
Answer works on the stored answer of a task key:

	keyq answer get key      print the answer: outcome, TTL and JSON value
	keyq answer delete key   delete it

A key without an answer is an error (exit status 1).`)
	s := storeFlags(fs)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parse(fs, args); err != nil {
			return err
		}
		return badUsage(fs, "keyq answer: missing action: get or delete")
	}
	action := args[0]
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if action != "get" && action != "delete" {
		return badUsage(fs, "keyq answer: unknown action %q: want get or delete", action)
	}
	if fs.NArg() != 1 {
		return badUsage(fs, "keyq answer %s: want exactly one key", action)
	}
	key := fs.Arg(0)
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	if action == "delete" {
		if err := c.DeleteAnswer(ctx, key); err != nil {
			return err
		}
		if s.json {
			return writeJSON(env.Stdout, map[string]string{"deleted": key})
		}
		_, err = fmt.Fprintf(env.Stdout, "deleted the answer of %s\n", strconv.Quote(key))
		return err
	}
	a, err := c.Answer(ctx, key)
	if err != nil {
		return err
	}
	outcome := "ok"
	if !a.OK {
		outcome = "error"
	}
	if s.json {
		var v any = json.RawMessage(a.Value)
		if !json.Valid(a.Value) {
			v = string(a.Value)
		}
		return writeJSON(env.Stdout, map[string]any{"key": key, "ok": a.OK, "ttl_s": a.TTL.Seconds(), "value": v})
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "KEY\tOUTCOME\tTTL\tVALUE")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strconv.Quote(key), outcome, a.TTL, a.Value)
	return tw.Flush()
}

func cmdLeases(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq leases [flags]", `
Leases shows the tasks leased now, earliest deadline first, without changing
them.`)
	s := storeFlags(fs)
	count := fs.Int("count", 20, "show up to this many leases")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return badUsage(fs, "keyq leases: unexpected arguments %q", fs.Args())
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	ls, err := c.Leases(ctx, *count)
	if err != nil {
		return err
	}
	if s.json {
		for _, l := range ls {
			j := struct {
				taskJSON
				Deadline time.Time `json:"deadline"`
			}{toJSON(l.Task), l.Deadline}
			if err := writeJSON(env.Stdout, j); err != nil {
				return err
			}
		}
		return nil
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "ID\tQUEUE\tTYPE\tATTEMPT\tDEADLINE\tPAYLOAD")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", l.ID, strconv.Quote(l.Queue), l.Type, l.Attempt,
			l.Deadline.UTC().Format(time.RFC3339Nano), show(l.Payload, 60))
	}
	return tw.Flush()
}

func cmdJob(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq job [flags] task-ID", `
Job shows the job record of a task: status, attempts, times and last error. A
task without a record (expired, or enqueued with job tracking off) is an error
(exit status 1).`)
	s := storeFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return badUsage(fs, "keyq job: want exactly one task ID")
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	j, err := c.Job(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	if s.json {
		return writeJSON(env.Stdout, map[string]any{
			"id": j.ID, "queue": j.Queue, "type": j.Type, "status": j.Status, "attempts": j.Attempts,
			"enqueued_at": at(j.EnqueuedAt), "started_at": at(j.StartedAt), "ended_at": at(j.EndedAt),
			"last_error": j.LastError,
		})
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "ID\tQUEUE\tTYPE\tSTATUS\tATTEMPTS\tENQUEUED\tSTARTED\tENDED\tLAST ERROR")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", j.ID, strconv.Quote(j.Queue), j.Type, j.Status,
		j.Attempts, at(j.EnqueuedAt), at(j.StartedAt), at(j.EndedAt), strconv.Quote(j.LastError))
	return tw.Flush()
}
