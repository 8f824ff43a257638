package main

import (
	"bufio"
	"context"
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

// check reports a usage error for store flags no store would accept.
func (s *store) check(fs *flagSet) error {
	if s.ns == "" {
		return fs.badUsage("--namespace must not be empty")
	}
	return nil
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

// notFound is the error of a command that found no answer, job or namespace. It
// names what was missing, and matches keyq.ErrNotFound.
type notFound struct{ what, ns string }

func (e *notFound) Error() string {
	return fmt.Sprintf("%s not found in namespace %s", e.what, strconv.Quote(e.ns))
}

func (e *notFound) Unwrap() error { return keyq.ErrNotFound }

// missing turns a keyq.ErrNotFound into a notFound naming what, and returns any
// other error as it is.
func (s *store) missing(err error, what string) error {
	if errors.Is(err, keyq.ErrNotFound) {
		return &notFound{what, s.ns}
	}
	return err
}

// checkTaskIDs reports a usage error for an argument that cannot be a task ID.
// IDs are opaque strings (S1.3), so only an empty one is refused here; an ID the
// store does not know is the store's to report.
func checkTaskIDs(fs *flagSet, ids []string) error {
	for _, id := range ids {
		if id == "" {
			return fs.badUsage("a task ID must not be empty")
		}
	}
	return nil
}

// oneTaskID returns the one argument of a command that takes a task ID, or a
// usage error for none, several, or one that cannot be an ID.
func oneTaskID(fs *flagSet, args []string) (string, error) {
	if len(args) != 1 {
		return "", fs.badUsage("want exactly one task ID")
	}
	if err := checkTaskIDs(fs, args); err != nil {
		return "", err
	}
	return args[0], nil
}

// checkWindow reports a usage error for an --offset or --count out of range.
func checkWindow(fs *flagSet, offset, count int) error {
	if offset < 0 {
		return fs.badUsage("--offset %d is negative", offset)
	}
	if count < 1 {
		return fs.badUsage("--count %d is below 1", count)
	}
	return nil
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// queuesFlag collects repeated --queue flags.
type queuesFlag []string

func (q *queuesFlag) String() string { return strings.Join(*q, ",") }
func (q *queuesFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty queue name")
	}
	*q = append(*q, v)
	return nil
}

// checkQueue reports a usage error for an empty --queue.
func checkQueue(fs *flagSet, queue string) error {
	if queue == "" {
		return fs.badUsage("--queue must not be empty")
	}
	return nil
}

func cmdStats(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq stats [flags]", `
Stats counts the waiting, leased, delayed and dead tasks of each queue of the
namespace (every queue it has seen, or those named by --queue), says which are
paused ("keyq pause"), and prints the namespace's counters: enqueued, delivered,
acked, released, reclaimed, deduped, dead, cancelled.

A namespace that holds nothing (never used, or misspelt) is an error (exit
status 1); "keyq namespaces" lists those the store holds. When the counters are
all zero, telling such a namespace from one that holds only answers walks the
store's keys as "keyq namespaces" does.`)
	s := storeFlags(fs.FlagSet)
	var queues queuesFlag
	fs.Var(&queues, "queue", "a queue to count (repeatable; default every known queue)")
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
	st, err := c.Stats(ctx, queues...)
	if err != nil {
		return err
	}
	if err := s.used(ctx, c, st); err != nil {
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
		// Paused queues are a list of their own, so that each queue's object
		// stays numbers only, as scripts read it.
		out := struct {
			Namespace string        `json:"namespace"`
			Queues    map[string]qs `json:"queues"`
			Paused    []string      `json:"paused"`
			Counters  any           `json:"counters"`
		}{s.ns, map[string]qs{}, []string{}, map[string]int64{
			"enqueued": k.Enqueued, "delivered": k.Delivered, "acked": k.Acked, "released": k.Released,
			"reclaimed": k.Reclaimed, "deduped": k.Deduped, "dead": k.Dead, "cancelled": k.Cancelled,
		}}
		for n, q := range st.Queues {
			out.Queues[n] = qs{q.Waiting, q.Leased, q.Delayed, q.Dead}
		}
		for _, n := range names {
			if st.Queues[n].Paused {
				out.Paused = append(out.Paused, n)
			}
		}
		return writeJSON(env.Stdout, out)
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "QUEUE\tSTATE\tWAITING\tLEASED\tDELAYED\tDEAD")
	for _, n := range names {
		q := st.Queues[n]
		state := "active"
		if q.Paused {
			state = "paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", strconv.Quote(n), state, q.Waiting, q.Leased, q.Delayed, q.Dead)
	}
	fmt.Fprintf(tw, "\nNAMESPACE\tENQUEUED\tDELIVERED\tACKED\tRELEASED\tRECLAIMED\tDEDUPED\tDEAD\tCANCELLED\n")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", strconv.Quote(s.ns),
		k.Enqueued, k.Delivered, k.Acked, k.Released, k.Reclaimed, k.Deduped, k.Dead, k.Cancelled)
	return tw.Flush()
}

// show quotes b for a table, cut to n bytes.
func show(b []byte, n int) string {
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}

// at formats t in UTC with layout for a table, "-" when it is not set.
func at(t time.Time, layout string) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(layout)
}

func cmdPeek(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq peek [flags]", `
Peek shows the waiting tasks of a queue from its head, without taking them.`)
	s := storeFlags(fs.FlagSet)
	queue := fs.String("queue", keyq.DefaultQueue, "the queue")
	offset := fs.Int("offset", 0, "skip this many tasks from the head")
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
	if err := checkQueue(fs, *queue); err != nil {
		return err
	}
	if err := checkWindow(fs, *offset, *count); err != nil {
		return err
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
			at(t.EnqueuedAt, time.RFC3339), show([]byte(t.Key), 40), show(t.Payload, 60))
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
	s := storeFlags(fs.FlagSet)
	offset := fs.Int("offset", 0, "list: skip this many dead tasks")
	count := fs.Int("count", 20, "list: show up to this many dead tasks")
	all := fs.Bool("all", false, "requeue, purge: every dead task")
	args, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return fs.badUsage("missing action: list, requeue or purge")
	}
	action, ids := args[0], args[1:]
	switch action {
	case "list":
		if len(ids) > 0 {
			return fs.badUsage("list: unexpected arguments %q", ids)
		}
		if *all {
			return fs.badUsage("list: --all is for requeue and purge")
		}
		if err := checkWindow(fs, *offset, *count); err != nil {
			return err
		}
	case "requeue", "purge":
		if *all == (len(ids) > 0) {
			return fs.badUsage("%s: give either --all or task IDs", action)
		}
		if fs.isSet("offset") || fs.isSet("count") {
			return fs.badUsage("%s: --offset and --count are for list", action)
		}
		if err := checkTaskIDs(fs, ids); err != nil {
			return err
		}
	default:
		return fs.badUsage("unknown action %q: want list, requeue or purge", action)
	}
	if err := s.check(fs); err != nil {
		return err
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
				j := deadJSON{toJSON(d.Task), d.Reason, jsonTime(d.DiedAt)}
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
				at(d.DiedAt, time.RFC3339), show([]byte(d.Reason), 60), show(d.Payload, 60))
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
arguments, one task per non-empty line read from stdin, all or none. It prints the
new task IDs, one a line. A task's key is its payload unless --key is given.
A payload that starts with "-" goes after "--": keyq enqueue -- -1.`)
	s := storeFlags(fs.FlagSet)
	queue := fs.String("queue", keyq.DefaultQueue, "the queue")
	key := fs.String("key", "", "the tasks' key (default: each task's payload)")
	typ := fs.String("type", "", "the tasks' type, the handler name")
	head := fs.Bool("head", false, "put the tasks at the head of the queue, as LPUSH would")
	delay := fs.Duration("delay", 0, "make the tasks available only after this long")
	unique := fs.Bool("unique", false, "refuse a task whose key is answered, waiting or leased")
	payloads, err := fs.parse(args)
	if err != nil {
		return err
	}
	if *delay < 0 {
		return fs.badUsage("--delay %v is negative", *delay)
	}
	if err := s.check(fs); err != nil {
		return err
	}
	if err := checkQueue(fs, *queue); err != nil {
		return err
	}
	if len(payloads) == 0 {
		sc := bufio.NewScanner(env.Stdin)
		sc.Buffer(make([]byte, 64<<10), keyq.DefaultMaxPayload)
		for sc.Scan() {
			if sc.Text() != "" {
				payloads = append(payloads, sc.Text())
			}
		}
		switch err := sc.Err(); {
		case errors.Is(err, bufio.ErrTooLong):
			return fs.badUsage("a line on stdin is longer than the payload limit of %d bytes", keyq.DefaultMaxPayload)
		case err != nil:
			return fmt.Errorf("reading stdin: %w", err)
		}
		if len(payloads) == 0 {
			return fs.badUsage("no tasks: give payloads as arguments or lines on stdin")
		}
	}
	for i, p := range payloads {
		if len(p) > keyq.DefaultMaxPayload {
			return fs.badUsage("payload %d is %d bytes, over the limit of %d", i+1, len(p), keyq.DefaultMaxPayload)
		}
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

	keyq answer get key      print the answer: outcome, TTL, time left and JSON value
	keyq answer delete key   delete it

A key without an answer is an error (exit status 1).`)
	s := storeFlags(fs.FlagSet)
	args, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return fs.badUsage("missing action: get or delete")
	}
	action := args[0]
	if action != "get" && action != "delete" {
		return fs.badUsage("unknown action %q: want get or delete", action)
	}
	if len(args) != 2 {
		return fs.badUsage("%s: want exactly one key", action)
	}
	key := args[1]
	if err := s.check(fs); err != nil {
		return err
	}
	c, done, err := s.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	what := "answer " + strconv.Quote(key)
	if action == "delete" {
		if err := c.DeleteAnswer(ctx, key); err != nil {
			return s.missing(err, what)
		}
		if s.json {
			return writeJSON(env.Stdout, struct {
				keyJSON
				Deleted bool `json:"deleted"`
			}{toKeyJSON(key), true})
		}
		_, err = fmt.Fprintf(env.Stdout, "deleted the answer of %s\n", strconv.Quote(key))
		return err
	}
	a, err := c.Answer(ctx, key)
	if err != nil {
		return s.missing(err, what)
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
		return writeJSON(env.Stdout, struct {
			keyJSON
			OK    bool    `json:"ok"`
			TTL   float64 `json:"ttl_s"`
			Left  float64 `json:"left_s"`
			Value any     `json:"value"`
		}{toKeyJSON(key), a.OK, a.TTL.Seconds(), a.Left.Seconds(), v})
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "KEY\tOUTCOME\tTTL\tLEFT\tVALUE")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strconv.Quote(key), outcome, a.TTL, a.Left.Round(time.Millisecond), a.Value)
	return tw.Flush()
}

func cmdLeases(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq leases [flags]", `
Leases shows the tasks leased now, earliest deadline first, without changing
them.`)
	s := storeFlags(fs.FlagSet)
	count := fs.Int("count", 20, "show up to this many leases")
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
	if err := checkWindow(fs, 0, *count); err != nil {
		return err
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
			if err := writeJSON(env.Stdout, leaseJSON{toJSON(l.Task), jsonTime(l.Deadline)}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "ID\tQUEUE\tTYPE\tATTEMPT\tDEADLINE\tPAYLOAD")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", l.ID, strconv.Quote(l.Queue), l.Type, l.Attempt,
			at(l.Deadline, time.RFC3339Nano), show(l.Payload, 60))
	}
	return tw.Flush()
}

func cmdJob(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq job [flags] task-ID", `
Job shows the job record of a task: status, attempts, times and last error. A
task without a record (expired, or enqueued with job tracking off) is an error
(exit status 1).`)
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
	j, err := c.Job(ctx, id)
	if err != nil {
		return s.missing(err, "job "+id)
	}
	if s.json {
		return writeJSON(env.Stdout, toJobJSON(j))
	}
	tw := table(env.Stdout)
	fmt.Fprintln(tw, "ID\tQUEUE\tTYPE\tSTATUS\tATTEMPTS\tENQUEUED\tSTARTED\tENDED\tLAST ERROR")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", j.ID, strconv.Quote(j.Queue), j.Type, j.Status,
		j.Attempts, at(j.EnqueuedAt, time.RFC3339Nano), at(j.StartedAt, time.RFC3339Nano), at(j.EndedAt, time.RFC3339Nano), strconv.Quote(j.LastError))
	return tw.Flush()
}
