package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
)

// mem returns a harness on a fresh memory backend.
func mem(t *testing.T) *harness { return stores(t)["memory"](t) }

// never is an Opener that fails the test: a usage error must be found before the
// store is opened.
func never(t *testing.T) Opener {
	return func(context.Context, string) (backend.Backend, error) {
		t.Error("the command opened the store")
		return nil, errors.New("never")
	}
}

// drain takes every waiting task of queue q and returns "payload/key/type" of each.
func drain(t *testing.T, h *harness) []string {
	t.Helper()
	var got []string
	for {
		l, err := h.q.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			return got
		}
		got = append(got, string(l.Payload)+"/"+l.Key+"/"+l.Type)
	}
}

// TestFlagsAnywhere checks that flags may follow the positional arguments and
// that "--" ends the flags. Before, the flag package stopped at the first
// argument, and "x1 x2 --json" queued a third task "--json".
func TestFlagsAnywhere(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string // payload/key/type of the tasks queued, in order
		json bool     // stdout is JSON lines
	}{
		{[]string{"enqueue", "--queue", "q", "x1", "x2", "--json"}, []string{"x1/x1/", "x2/x2/"}, true},
		{[]string{"enqueue", "x1", "--queue=q", "--type", "mail", "x2"}, []string{"x1/x1/mail", "x2/x2/mail"}, false},
		{[]string{"enqueue", "--queue", "q", "--", "--json", "-x"}, []string{"--json/--json/", "-x/-x/"}, false},
		{[]string{"enqueue", "--queue", "q", "a", "--", "--type", "t"}, []string{"a/a/", "--type/--type/", "t/t/"}, false},
		{[]string{"enqueue", "--queue", "q", "-"}, []string{"-/-/"}, false},
		// "--" right after a flag that takes a value is that value, as for the flag package.
		{[]string{"enqueue", "--queue", "q", "--key", "--", "p"}, []string{"p/--/"}, false},
		{[]string{"enqueue", "--queue", "q", "p", "--head", "--key", "k"}, []string{"p/k/"}, false},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			h := mem(t)
			out := h.ok(t, "", c.args...)
			ids := lines(out)
			if len(ids) != len(c.want) {
				t.Fatalf("printed %q, want %d IDs", out, len(c.want))
			}
			for _, l := range ids {
				var j map[string]string
				if err := json.Unmarshal([]byte(l), &j); (err == nil) != c.json {
					t.Errorf("output line %q: JSON %v, want JSON %v", l, err == nil, c.json)
				}
			}
			if got := drain(t, h); !slices.Equal(got, c.want) {
				t.Fatalf("queued %q, want %q", got, c.want)
			}
		})
	}

	// An action and its arguments may sit among the flags too.
	h := mem(t)
	if err := h.q.SetAnswer(context.Background(), "k1", 7); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"answer", "get", "k1", "--json"},
		{"answer", "--json", "get", "k1"},
		{"answer", "get", "--json", "k1"},
	} {
		var j map[string]any
		out := h.ok(t, "", args...)
		if err := json.Unmarshal([]byte(out), &j); err != nil || j["value"] != 7.0 {
			t.Errorf("keyq %q printed %q (%v), want the answer as JSON", args, out, err)
		}
	}
	kill(t, h, "dead-one")
	out := h.ok(t, "", "dead", "list", "--count", "5", "--json")
	if ls := lines(out); len(ls) != 1 || !strings.HasPrefix(ls[0], "{") {
		t.Errorf("dead list --count 5 --json printed %q", out)
	}
}

// TestHelp checks that help goes to stdout with exit status 0, for every command
// and every way of asking. Before, it went to stderr.
func TestHelp(t *testing.T) {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	if !slices.Contains(names, "namespaces") {
		t.Errorf("commands %q lack namespaces", names)
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := runCmd(t, never(t), "", args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "The commands are") {
			t.Errorf("keyq %q: exit %d, stdout %q, stderr %q; want the usage on stdout, exit 0", args, code, out, errOut)
		}
		for _, n := range names {
			if !strings.Contains(out, "\t"+n+" ") {
				t.Errorf("keyq %q does not list %s:\n%s", args, n, out)
			}
		}
	}
	for _, name := range names {
		for _, args := range [][]string{
			{name, "--help"}, {name, "-h"}, {"help", name}, {name, "x", "--help"}, {name, "--json", "-help"},
		} {
			code, out, errOut := runCmd(t, never(t), "", args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: keyq "+name) || !strings.Contains(out, "Flags:") {
				t.Errorf("keyq %q: exit %d, stdout %q, stderr %q; want its usage on stdout, exit 0", args, code, out, errOut)
			}
		}
	}
}

// TestUsageErrors checks that every bad command line exits 2 with a message on
// stderr, before the store is opened (never fails the test if it is).
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args  []string
		stdin string
		err   string // on stderr
	}{
		{nil, "", "keyq <command> [flags]"},
		{[]string{"frob"}, "", `unknown command "frob"`},
		{[]string{"help", "frob"}, "", `unknown command "frob"`},
		{[]string{"stats", "--nope"}, "", "flag provided but not defined: -nope"},
		{[]string{"stats", "extra"}, "", "unexpected arguments"},
		{[]string{"stats", "--namespace", ""}, "", "--namespace must not be empty"},
		{[]string{"stats", "--queue", ""}, "", "empty queue name"},
		{[]string{"peek", "--count", "x"}, "", "invalid value"},
		{[]string{"peek", "--count", "-1"}, "", "--count -1 is below 1"},
		{[]string{"peek", "--count", "0"}, "", "--count 0 is below 1"},
		{[]string{"peek", "--offset", "-2"}, "", "--offset -2 is negative"},
		{[]string{"peek", "--queue", ""}, "", "--queue must not be empty"},
		{[]string{"leases", "--count", "-3"}, "", "--count -3 is below 1"},
		{[]string{"leases", "x"}, "", "unexpected arguments"},
		{[]string{"dead"}, "", "missing action"},
		{[]string{"dead", "--json"}, "", "missing action"},
		{[]string{"dead", "bury"}, "", `unknown action "bury"`},
		{[]string{"dead", "requeue"}, "", "give either --all or task IDs"},
		{[]string{"dead", "purge", "--all", "7"}, "", "give either --all or task IDs"},
		{[]string{"dead", "requeue", ""}, "", "a task ID must not be empty"},
		{[]string{"dead", "purge", "1", "-2x", "--"}, "", "flag provided but not defined"},
		{[]string{"dead", "purge", "1", "--", ""}, "", "a task ID must not be empty"},
		{[]string{"dead", "requeue", "1", "--count", "5"}, "", "--offset and --count are for list"},
		{[]string{"dead", "list", "--all"}, "", "--all is for requeue and purge"},
		{[]string{"dead", "list", "--count", "-1"}, "", "--count -1 is below 1"},
		{[]string{"dead", "list", "7"}, "", "unexpected arguments"},
		{[]string{"enqueue", "--delay", "-1s", "x"}, "", "--delay -1s is negative"},
		{[]string{"enqueue", "x", "--delay"}, "", "flag needs an argument: -delay"},
		{[]string{"enqueue"}, "", "no tasks"},
		{[]string{"enqueue"}, "\n\n", "no tasks"},
		{[]string{"enqueue", "--queue", "", "x"}, "", "--queue must not be empty"},
		{[]string{"enqueue", "--namespace", "", "x"}, "", "--namespace must not be empty"},
		{[]string{"enqueue", "-5"}, "", "flag provided but not defined: -5"},
		{[]string{"enqueue"}, strings.Repeat("x", keyq.DefaultMaxPayload+1), "longer than the payload limit"},
		{[]string{"job"}, "", "want exactly one task ID"},
		{[]string{"job", "1", "2"}, "", "want exactly one task ID"},
		{[]string{"job", ""}, "", "a task ID must not be empty"},
		{[]string{"answer"}, "", "missing action"},
		{[]string{"answer", "frob", "k"}, "", `unknown action "frob"`},
		{[]string{"answer", "get"}, "", "want exactly one key"},
		{[]string{"answer", "delete", "a", "b"}, "", "want exactly one key"},
		{[]string{"answer", "get", "k", "--namespace="}, "", "--namespace must not be empty"},
		{[]string{"pause"}, "", "name at least one queue"},
		{[]string{"pause", "q", ""}, "", "--queue must not be empty"},
		{[]string{"resume", "--nope", "q"}, "", "flag provided but not defined: -nope"},
		{[]string{"resume"}, "", "name at least one queue"},
		{[]string{"cancel"}, "", "want exactly one task ID"},
		{[]string{"cancel", "1", "2"}, "", "want exactly one task ID"},
		{[]string{"cancel", ""}, "", "a task ID must not be empty"},
		{[]string{"delete", "--", ""}, "", "a task ID must not be empty"},
		{[]string{"delete"}, "", "want exactly one task ID"},
		{[]string{"delayed", "x"}, "", "unexpected arguments"},
		{[]string{"delayed", "--queue", ""}, "", "--queue must not be empty"},
		{[]string{"delayed", "--count", "0"}, "", "--count 0 is below 1"},
		{[]string{"delayed", "--offset", "-1"}, "", "--offset -1 is negative"},
		{[]string{"namespaces", "x"}, "", "unexpected arguments"},
		{[]string{"namespaces", "--namespace", "x"}, "", "flag provided but not defined: -namespace"},
		{[]string{"bench", "--backends", "mongo"}, "", `unknown backend "mongo"`},
		{[]string{"bench", "--workloads", "x"}, "", `unknown workload "x"`},
		{[]string{"bench", "--workers", "0"}, "", "must be positive"},
		{[]string{"bench", "--tasks", "-1"}, "", "must not be negative"},
		{[]string{"bench", "extra"}, "", "unexpected arguments"},
	} {
		code, out, errOut := runCmd(t, never(t), c.stdin, c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.err) {
			t.Errorf("keyq %q: exit %d, stdout %q, stderr %.300q; want exit 2 and %q on stderr",
				c.args, code, out, errOut, c.err)
		}
	}
}

// TestNotFound checks that a missing answer or job record is named, with its
// namespace, not reported as a bare "not found".
func TestNotFound(t *testing.T) {
	h := mem(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"answer", "get", "call-42"}, `keyq answer: answer "call-42" not found in namespace %q`},
		{[]string{"answer", "delete", "call-42"}, `keyq answer: answer "call-42" not found in namespace %q`},
		{[]string{"answer", "get", "\xff"}, `keyq answer: answer "\xff" not found in namespace %q`},
		{[]string{"job", "42"}, `keyq job: job 42 not found in namespace %q`},
	} {
		code, out, errOut := h.run(t, "", c.args...)
		if want := fmt.Sprintf(c.want, h.ns) + "\n"; code != 1 || out != "" || errOut != want {
			t.Errorf("keyq %q: exit %d, stdout %q, stderr %q; want exit 1 and %q", c.args, code, out, errOut, want)
		}
	}
}

// TestStatsUnused checks that stats on a namespace that holds nothing says so
// and exits 1, while one that holds only answers, or only empty queues, is shown.
func TestStatsUnused(t *testing.T) {
	h := mem(t)
	want := fmt.Sprintf("keyq stats: namespace %q has no queues, counters or answers (keyq namespaces lists those the store holds)\n", h.ns)
	for _, args := range [][]string{{"stats"}, {"stats", "--json"}, {"stats", "--queue", "q"}} {
		if code, out, errOut := h.run(t, "", args...); code != 1 || out != "" || errOut != want {
			t.Errorf("keyq %q on an unused namespace: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, code, out, errOut, want)
		}
	}
	ctx := context.Background()
	if err := h.q.SetAnswer(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if out := h.ok(t, "", "stats"); !strings.Contains(out, fmt.Sprintf("%q", h.ns)) {
		t.Errorf("stats of a namespace holding an answer printed:\n%s", out)
	}

	// A store that cannot list its namespaces: stats judges by the counters.
	b := memory.New()
	defer b.Close()
	open := func(context.Context, string) (backend.Backend, error) { return keepOnly{b}, nil }
	code, out, errOut := runCmd(t, open, "", "stats", "--namespace", "x")
	if code != 1 || out != "" || errOut != "keyq stats: namespace \"x\" has no queues or counters (keyq namespaces lists those the store holds)\n" {
		t.Errorf("stats on a store without NamespaceLister: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, open, "", "namespaces"); code != 1 || !strings.Contains(errOut, "not supported by this backend") {
		t.Errorf("namespaces on a store without NamespaceLister: exit %d, stderr %q", code, errOut)
	}
}

// keepOnly hands out b as a plain backend.Backend, without its optional
// interfaces, and without letting the command close it.
type keepOnly struct{ backend.Backend }

func (keepOnly) Close() error { return nil }

// TestNamespacesCommand lists the namespaces of a memory store, as text and JSON.
func TestNamespacesCommand(t *testing.T) {
	b := memory.New()
	defer b.Close()
	open := func(context.Context, string) (backend.Backend, error) { return keep{b}, nil }
	code, out, errOut := runCmd(t, open, "", "namespaces")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("namespaces of an empty store: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	ctx := context.Background()
	for _, ns := range []string{"zeta", "alpha", "with space", "\xffbin"} {
		q, err := keyq.New(b, ns)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Enqueue(ctx, "q", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Read, never written: not held.
	if _, _, errOut := runCmd(t, open, "", "stats", "--namespace", "ghost"); !strings.Contains(errOut, "no queues") {
		t.Fatalf("stats of ghost: %q", errOut)
	}
	code, out, errOut = runCmd(t, open, "", "namespaces")
	if want := "alpha\n\"with space\"\nzeta\n\"\\xffbin\"\n"; code != 0 || out != want || errOut != "" {
		t.Errorf("namespaces: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	code, out, _ = runCmd(t, open, "", "namespaces", "--json")
	want := `{"namespace":"alpha"}` + "\n" + `{"namespace":"with space"}` + "\n" + `{"namespace":"zeta"}` + "\n" + `{"namespace_base64":"/2Jpbg=="}` + "\n"
	if code != 0 || out != want {
		t.Errorf("namespaces --json: exit %d, stdout %q; want %q", code, out, want)
	}
}

// TestJSONNullsAndKeys checks that --json writes null for a time not set, and a
// key that is not UTF-8 as key_base64. Before, a missing time was "-" or
// "0001-01-01T00:00:00Z", and a binary key came out mangled.
func TestJSONNullsAndKeys(t *testing.T) {
	h := mem(t)
	ctx := context.Background()
	id, err := h.q.Enqueue(ctx, "q", []byte("p"), keyq.Key("\xff\xfe"))
	if err != nil {
		t.Fatal(err)
	}
	obj := func(out string) map[string]any {
		t.Helper()
		var j map[string]any
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		return j
	}
	j := obj(h.ok(t, "", "job", id, "--json"))
	for _, k := range []string{"started_at", "ended_at"} {
		if v, ok := j[k]; !ok || v != nil {
			t.Errorf("job --json of a waiting task: %s is %#v, want null", k, v)
		}
	}
	if j["enqueued_at"] == nil {
		t.Errorf("job --json: enqueued_at null for an enqueued task")
	}
	p := obj(h.ok(t, "", "peek", "--queue", "q", "--json"))
	if _, ok := p["key"]; ok || p["key_base64"] != "//4=" || p["payload"] != "p" {
		t.Errorf("peek --json of a binary key: %v, want key_base64 //4= and no key", p)
	}
	if _, err := h.q.Next(ctx); err != nil {
		t.Fatal(err)
	}
	l := obj(h.ok(t, "", "leases", "--json"))
	if _, ok := l["key"]; ok || l["key_base64"] != "//4=" || l["deadline"] == nil {
		t.Errorf("leases --json of a binary key: %v", l)
	}
	if err := h.q.SetAnswer(ctx, "\xfe", 1); err != nil {
		t.Fatal(err)
	}
	a := obj(h.ok(t, "", "answer", "get", "\xfe", "--json"))
	if _, ok := a["key"]; ok || a["key_base64"] != "/g==" {
		t.Errorf("answer get --json of a binary key: %v", a)
	}
	d := obj(h.ok(t, "", "answer", "delete", "\xfe", "--json"))
	if _, ok := d["key"]; ok || d["key_base64"] != "/g==" || d["deleted"] != true {
		t.Errorf("answer delete --json of a binary key: %v", d)
	}
}

// TestBenchJSON checks that keyq bench --json writes null for a latency it did
// not measure, and reports the batch the memory workload really used.
func TestBenchJSON(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "", "bench", "--backends", "memory", "--tasks", "50", "--samples", "3", "--json",
		"--workloads", "memory,cycle,enqueue")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s", code, errOut)
	}
	for _, l := range lines(out) {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		switch r["workload"] {
		case "memory":
			if r["batch"] != 1.0 || r["p50_ms"] != nil || r["p99_ms"] != nil || r["bytes_per_task"] == nil {
				t.Errorf("memory row: %s; want batch 1, null latencies, bytes_per_task", l)
			}
		case "cycle":
			if v, ok := r["p99_ms"]; !ok || v != nil || r["bytes_per_task"] != nil {
				t.Errorf("cycle row: %s; want p99_ms and bytes_per_task null", l)
			}
		case "enqueue":
			if r["p99_ms"] == nil {
				t.Errorf("enqueue row: %s; want its p99", l)
			}
		}
	}
}

// TestDocListsCommands checks that the package doc lists every command.
func TestDocListsCommands(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	for _, c := range commands {
		if !strings.Contains(doc, "\t"+c.name+" ") {
			t.Errorf("the package doc does not list %s:\n%s", c.name, doc)
		}
	}
}
