package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/memory"
)

// store is one backend the commands run on, and a client of the test on the same
// namespace, to set things up and check what the commands changed.
type harness struct {
	open Opener
	url  string
	ns   string
	q    *keyq.Client
}

// keep hands out b without letting the command close it.
type keep struct{ backend.Backend }

func (keep) Close() error { return nil }

func (k keep) Namespaces(ctx context.Context) ([]string, error) {
	return k.Backend.(backend.NamespaceLister).Namespaces(ctx)
}

func stores(t *testing.T) map[string]func(t *testing.T) *harness {
	return map[string]func(t *testing.T) *harness{
		"memory": func(t *testing.T) *harness {
			b := memory.New()
			t.Cleanup(func() { b.Close() })
			return newHarness(t, func(context.Context, string) (backend.Backend, error) { return keep{b}, nil }, "mem://", b)
		},
		"redis": func(t *testing.T) *harness {
			url := redistest.URL(t)
			b, err := OpenRedis(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return newHarness(t, OpenRedis, url, b)
		},
	}
}

func newHarness(t *testing.T, open Opener, url string, b backend.Backend) *harness {
	ns := "cli-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + strconv.Itoa(rand.IntN(1e9))
	q, err := keyq.New(b, ns, keyq.Queues("q"))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{open: open, url: url, ns: ns, q: q}
}

// run runs keyq with args, adding --redis and --namespace right after the command
// name (before any action: flags may come anywhere), and returns the exit code and
// what it printed.
func (h *harness) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	full := slices.Concat(args[:1], []string{"--redis", h.url, "--namespace", h.ns}, args[1:])
	return runCmd(t, h.open, stdin, full...)
}

func runCmd(t *testing.T, open Opener, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	// A bound on a hang only: keyq bench on a loaded machine is slow, not failed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := run(ctx, args, &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Open: open})
	return code, out.String(), errOut.String()
}

// ok runs args and fails t unless they exit 0.
func (h *harness) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := h.run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("keyq %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func waiting(t *testing.T, h *harness, queue string) int64 {
	t.Helper()
	st, err := h.q.Stats(context.Background(), queue)
	if err != nil {
		t.Fatal(err)
	}
	return st.Queues[queue].Waiting
}

// kill makes a dead task in queue q and returns its ID.
func kill(t *testing.T, h *harness, payload string) string {
	t.Helper()
	ctx := context.Background()
	id, err := h.q.Enqueue(ctx, "q", []byte(payload), keyq.MaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	l, err := h.q.Next(ctx)
	if err != nil || l == nil || l.ID != id {
		t.Fatalf("dequeue of %s: %v, %v", id, l, err)
	}
	if err := h.q.Release(ctx, l, keyq.Because(errors.New("boom "+payload))); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCommands(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("enqueue", func(t *testing.T) { testEnqueue(t, open(t)) })
			t.Run("peek", func(t *testing.T) { testPeek(t, open(t)) })
			t.Run("stats", func(t *testing.T) { testStats(t, open(t)) })
			t.Run("dead", func(t *testing.T) { testDead(t, open(t)) })
			t.Run("answer", func(t *testing.T) { testAnswer(t, open(t)) })
			t.Run("leases", func(t *testing.T) { testLeases(t, open(t)) })
			t.Run("job", func(t *testing.T) { testJob(t, open(t)) })
		})
	}
}

func testEnqueue(t *testing.T, h *harness) {
	ctx := context.Background()
	out := h.ok(t, "", "enqueue", "--queue", "q", "a", "b")
	ids := lines(out)
	if len(ids) != 2 || ids[0] == ids[1] || ids[0] == "" {
		t.Fatalf("enqueue printed %q, want two IDs", out)
	}
	out = h.ok(t, "c\n\nd\n", "enqueue", "--queue", "q", "--key", "K", "--type", "mail", "--json")
	var got struct{ ID string }
	if err := json.Unmarshal([]byte(lines(out)[1]), &got); err != nil || len(lines(out)) != 2 || got.ID == "" {
		t.Fatalf("enqueue --json printed %q (%v)", out, err)
	}
	if n := waiting(t, h, "q"); n != 4 {
		t.Fatalf("%d tasks waiting after enqueueing 4", n)
	}
	var order []string
	for range 4 {
		l, err := h.q.Next(ctx)
		if err != nil || l == nil {
			t.Fatalf("next: %v %v", l, err)
		}
		order = append(order, string(l.Payload)+"/"+l.Key+"/"+l.Type)
	}
	want := []string{"a/a/", "b/b/", "c/K/mail", "d/K/mail"}
	if !slices.Equal(order, want) || ids[0] == "" {
		t.Fatalf("delivered %q, want %q", order, want)
	}
	if l, _ := h.q.Next(ctx); l != nil {
		t.Fatalf("an extra task %q", l.Payload)
	}
	// --head puts the task first; --unique refuses a key already waiting.
	h.ok(t, "", "enqueue", "--queue", "q", "x")
	h.ok(t, "", "enqueue", "--queue", "q", "--head", "y")
	if code, _, errOut := h.run(t, "", "enqueue", "--queue", "q", "--unique", "x"); code != 1 || !strings.Contains(errOut, "duplicate") {
		t.Fatalf("unique enqueue of a waiting key: exit %d, stderr %q", code, errOut)
	}
	if l, _ := h.q.Next(ctx); l == nil || string(l.Payload) != "y" {
		t.Fatalf("--head: first task %v, want y", l)
	}
	if code, _, errOut := h.run(t, "", "enqueue", "--queue", "q"); code != 2 || !strings.Contains(errOut, "no tasks") {
		t.Fatalf("enqueue of nothing: exit %d, stderr %q", code, errOut)
	}
}

func testPeek(t *testing.T, h *harness) {
	ctx := context.Background()
	for _, p := range []string{"one", "two", "three", "\xff\x00"} {
		if _, err := h.q.Enqueue(ctx, "q", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	out := h.ok(t, "", "peek", "--queue", "q", "--offset", "1", "--count", "2")
	ls := lines(out)
	if len(ls) != 3 || !strings.HasPrefix(ls[0], "ID") || !strings.Contains(ls[1], `"two"`) || !strings.Contains(ls[2], `"three"`) {
		t.Fatalf("peek printed:\n%s", out)
	}
	out = h.ok(t, "", "peek", "--queue", "q", "--json")
	ls = lines(out)
	if len(ls) != 4 {
		t.Fatalf("peek --json printed:\n%s", out)
	}
	var first, last map[string]any
	if err := json.Unmarshal([]byte(ls[0]), &first); err != nil || first["payload"] != "one" || first["key"] != "one" || first["queue"] != "q" {
		t.Fatalf("peek --json first line %s (%v)", ls[0], err)
	}
	if err := json.Unmarshal([]byte(ls[3]), &last); err != nil || last["payload"] != nil || last["payload_base64"] != "/wA=" {
		t.Fatalf("peek --json binary payload %s (%v)", ls[3], err)
	}
	if n := waiting(t, h, "q"); n != 4 {
		t.Fatalf("peek changed the queue: %d waiting", n)
	}
}

func testStats(t *testing.T, h *harness) {
	ctx := context.Background()
	kill(t, h, "dead-one")
	for range 3 {
		if _, err := h.q.Enqueue(ctx, "q", []byte(strconv.Itoa(rand.Int()))); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := h.q.Next(ctx); err != nil || l == nil {
		t.Fatal(l, err)
	}
	out := h.ok(t, "", "stats")
	if !strings.Contains(out, "WAITING") || !strings.Contains(out, `"q"`) || !strings.Contains(out, strconv.Quote(h.ns)) {
		t.Fatalf("stats printed:\n%s", out)
	}
	var qline []string
	for _, l := range lines(out) {
		if f := strings.Fields(l); len(f) == 6 && f[0] == `"q"` {
			qline = f
		}
	}
	if !slices.Equal(qline, []string{`"q"`, "active", "2", "1", "0", "1"}) {
		t.Fatalf("stats queue line %q, want active, waiting 2 leased 1 delayed 0 dead 1 in:\n%s", qline, out)
	}
	var js struct {
		Namespace string
		Queues    map[string]map[string]int64
		Counters  map[string]int64
	}
	out = h.ok(t, "", "stats", "--json", "--queue", "q")
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("stats --json printed %q: %v", out, err)
	}
	q := js.Queues["q"]
	if js.Namespace != h.ns || q["waiting"] != 2 || q["leased"] != 1 || q["dead"] != 1 ||
		js.Counters["enqueued"] != 4 || js.Counters["delivered"] != 2 || js.Counters["dead"] != 1 {
		t.Fatalf("stats --json: %+v", js)
	}
}

func testDead(t *testing.T, h *harness) {
	ctx := context.Background()
	a, b := kill(t, h, "alpha"), kill(t, h, "beta")
	out := h.ok(t, "", "dead", "list")
	if ls := lines(out); len(ls) != 3 || !strings.Contains(ls[1], a) || !strings.Contains(ls[1], "boom alpha") || !strings.Contains(ls[2], b) {
		t.Fatalf("dead list printed:\n%s", out)
	}
	out = h.ok(t, "", "dead", "list", "--json")
	var d struct {
		ID     string
		Reason string
		DiedAt *time.Time `json:"died_at"`
	}
	if err := json.Unmarshal([]byte(lines(out)[0]), &d); err != nil || d.ID != a || d.Reason != "boom alpha" || d.DiedAt == nil {
		t.Fatalf("dead list --json printed %q (%v)", out, err)
	}

	// requeue one: it is back in its queue, and no longer dead.
	if out := h.ok(t, "", "dead", "requeue", a); out != "requeued 1 dead tasks\n" {
		t.Fatalf("dead requeue printed %q", out)
	}
	if n := waiting(t, h, "q"); n != 1 {
		t.Fatalf("%d tasks waiting after requeue, want 1", n)
	}
	l, err := h.q.Next(ctx)
	if err != nil || l == nil || l.ID != a || string(l.Payload) != "alpha" {
		t.Fatalf("after requeue, next is %v (%v), want task %s", l, err, a)
	}
	if ds, _ := h.q.Dead(ctx, 0, 10); len(ds) != 1 || ds[0].ID != b {
		t.Fatalf("dead after requeue: %v", ds)
	}

	// purge all: the dead list is empty and nothing came back.
	if out := h.ok(t, "", "dead", "purge", "--all", "--json"); strings.TrimSpace(out) != `{"purged":1}` {
		t.Fatalf("dead purge --all --json printed %q", out)
	}
	if ds, _ := h.q.Dead(ctx, 0, 10); len(ds) != 0 {
		t.Fatalf("dead after purge: %v", ds)
	}
	if n := waiting(t, h, "q"); n != 0 {
		t.Fatalf("%d waiting after purge", n)
	}
	c := kill(t, h, "gamma")
	if out := h.ok(t, "", "dead", "requeue", "--all"); out != "requeued 1 dead tasks\n" {
		t.Fatalf("dead requeue --all printed %q", out)
	}
	if l, _ := h.q.Next(ctx); l == nil || l.ID != c {
		t.Fatalf("after requeue --all, next is %v", l)
	}
	for _, bad := range [][]string{{"dead", "requeue"}, {"dead", "purge", "--all", "x"}, {"dead", "bury"}} {
		if code, out, errOut := h.run(t, "", bad...); code != 2 || out != "" || !strings.Contains(errOut, "usage: keyq dead") {
			t.Errorf("keyq %q: exit %d stdout %q stderr %q, want usage and exit 2", bad, code, out, errOut)
		}
	}
}

func testAnswer(t *testing.T, h *harness) {
	ctx := context.Background()
	stored := time.Now()
	if err := h.q.SetAnswer(ctx, "k1", map[string]int{"n": 7}); err != nil {
		t.Fatal(err)
	}
	out := h.ok(t, "", "answer", "get", "k1")
	if !strings.Contains(out, `{"n":7}`) || !strings.Contains(out, "ok") || !strings.Contains(out, "24h0m0s") || !strings.Contains(out, "LEFT") {
		t.Fatalf("answer get printed:\n%s", out)
	}
	var js struct {
		Key   string
		OK    bool
		TTL   float64 `json:"ttl_s"`
		Left  float64 `json:"left_s"`
		Value map[string]int
	}
	out = h.ok(t, "", "answer", "get", "--json", "k1")
	// The time left is the TTL less what passed since the answer was stored, as
	// this host measures it, with a millisecond for the store's resolution.
	elapsed := time.Since(stored) + time.Millisecond
	if err := json.Unmarshal([]byte(out), &js); err != nil || js.Key != "k1" || !js.OK || js.TTL != 86400 || js.Value["n"] != 7 ||
		js.Left > 86400 || js.Left < 86400-elapsed.Seconds() {
		t.Fatalf("answer get --json printed %q (%v); want left_s between %v and 86400", out, err, 86400-elapsed.Seconds())
	}
	h.ok(t, "", "answer", "delete", "k1")
	if ok, err := h.q.Exists(ctx, "k1"); err != nil || ok {
		t.Fatalf("after answer delete, exists %v (%v)", ok, err)
	}
	if code, out, errOut := h.run(t, "", "answer", "get", "k1"); code != 1 || out != "" ||
		errOut != fmt.Sprintf("keyq answer: answer \"k1\" not found in namespace %q\n", h.ns) {
		t.Fatalf("answer get of a missing key: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if code, _, errOut := h.run(t, "", "answer", "get"); code != 2 || !strings.Contains(errOut, "exactly one key") {
		t.Fatalf("answer get without a key: exit %d stderr %q", code, errOut)
	}
}

func testLeases(t *testing.T, h *harness) {
	ctx := context.Background()
	if out := h.ok(t, "", "leases"); len(lines(out)) != 1 {
		t.Fatalf("leases with none printed:\n%s", out)
	}
	for _, p := range []string{"first", "second", "third"} {
		if _, err := h.q.Enqueue(ctx, "q", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	long, err := h.q.Next(ctx, keyq.LeaseFor(time.Hour))
	if err != nil || long == nil {
		t.Fatal(long, err)
	}
	short, err := h.q.Next(ctx, keyq.LeaseFor(time.Minute))
	if err != nil || short == nil {
		t.Fatal(short, err)
	}
	out := h.ok(t, "", "leases")
	ls := lines(out)
	if len(ls) != 3 || !strings.Contains(ls[1], `"second"`) || !strings.Contains(ls[2], `"first"`) {
		t.Fatalf("leases printed, want second (earlier deadline) then first:\n%s", out)
	}
	out = h.ok(t, "", "leases", "--json", "--count", "1")
	var j struct {
		ID       string
		Payload  string
		Deadline time.Time
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.ID != short.ID || j.Payload != "second" ||
		!j.Deadline.Equal(short.Deadline) {
		t.Fatalf("leases --json printed %q (%v), want lease %s due %v", out, err, short.ID, short.Deadline)
	}
	if err := h.q.Ack(ctx, short); err != nil {
		t.Fatalf("the lease listed is no longer live: %v", err)
	}
}

func testJob(t *testing.T, h *harness) {
	ctx := context.Background()
	id, err := h.q.Enqueue(ctx, "q", []byte("work"), keyq.Type("mail"))
	if err != nil {
		t.Fatal(err)
	}
	out := h.ok(t, "", "job", id)
	if ls := lines(out); len(ls) != 2 || !strings.Contains(ls[1], "pending") || !strings.Contains(ls[1], "mail") {
		t.Fatalf("job of a waiting task printed:\n%s", out)
	}
	l, err := h.q.Next(ctx)
	if err != nil || l == nil {
		t.Fatal(l, err)
	}
	if err := h.q.Ack(ctx, l, keyq.WithErrorAnswer("bad"), keyq.WithStatus(keyq.StatusFailed, "no such user")); err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	out = h.ok(t, "", "job", "--json", id)
	if err := json.Unmarshal([]byte(out), &j); err != nil || j["id"] != id || j["status"] != "failed" ||
		j["last_error"] != "no such user" || j["ended_at"] == nil || j["ended_at"] == "-" || j["queue"] != "q" {
		t.Fatalf("job --json of a failed task printed %q (%v)", out, err)
	}
	if code, _, errOut := h.run(t, "", "job", "987654"); code != 1 ||
		errOut != fmt.Sprintf("keyq job: job 987654 not found in namespace %q\n", h.ns) {
		t.Fatalf("job of an unknown ID: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := h.run(t, "", "job"); code != 2 || !strings.Contains(errOut, "exactly one task ID") {
		t.Fatalf("job without an ID: exit %d, stderr %q", code, errOut)
	}
}

func TestUnreachable(t *testing.T) {
	// Port 1 on loopback refuses connections.
	code, _, errOut := runCmd(t, OpenRedis, "", "stats", "--redis", "redis://127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "cannot reach redis") {
		t.Fatalf("stats on a closed port: exit %d, stderr %q", code, errOut)
	}
}

func TestBench(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "", "bench", "--tasks", "300", "--samples", "10", "--json")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("bench wrote on stderr, not a terminal: %q", errOut)
	}
	checkBench(t, out, []string{"memory", "miniredis"}, 300)

	code, out, errOut = runCmd(t, nil, "", "bench", "--tasks", "300", "--samples", "10", "--batch", "10",
		"--backends", "redis", "--redis", redistest.URL(t))
	if code != 0 {
		t.Fatalf("bench on redis: exit %d\n%s", code, errOut)
	}
	ls := lines(out)
	if len(ls) != 1+len(benchWorkloads()) || !strings.Contains(ls[0], "tasks/s") || !strings.Contains(ls[2], "redis") {
		t.Fatalf("bench table:\n%s", out)
	}
}

func benchWorkloads() []string {
	return []string{"memory", "enqueue", "cycle", "worker", "wakeup", "dedupe"}
}

func checkBench(t *testing.T, out string, backends []string, tasks int) {
	t.Helper()
	var got []string
	for _, l := range lines(out) {
		var r struct {
			Backend      string  `json:"backend"`
			Workload     string  `json:"workload"`
			Tasks        int     `json:"tasks"`
			Seconds      float64 `json:"seconds"`
			TasksPerS    float64 `json:"tasks_per_s"`
			P50          float64 `json:"p50_ms"`
			P99          float64 `json:"p99_ms"`
			BytesPerTask float64 `json:"bytes_per_task"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bench --json line %q: %v", l, err)
		}
		got = append(got, r.Backend+"/"+r.Workload)
		if r.Seconds <= 0 || r.TasksPerS <= 0 {
			t.Errorf("%s: nothing measured: %s", r.Workload, l)
		}
		if r.Workload == "wakeup" && (r.P99 <= 0 || r.Tasks != 10) {
			t.Errorf("wakeup: %s", l)
		}
		if r.Workload == "memory" && r.BytesPerTask <= 64 {
			t.Errorf("memory: %s", l)
		}
		if r.Workload != "wakeup" && r.Tasks != tasks {
			t.Errorf("%s: %d tasks, want %d", r.Workload, r.Tasks, tasks)
		}
	}
	var want []string
	for _, b := range backends {
		for _, w := range benchWorkloads() {
			want = append(want, b+"/"+w)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("bench ran %q, want %q", got, want)
	}
}

func TestProgress(t *testing.T) {
	var errOut bytes.Buffer
	env := &Env{Stderr: &errOut, Terminal: true}
	p := startProgress(env, "memory cycle", 10)
	p.add(10)
	p.stop()
	if !strings.Contains(errOut.String(), "memory cycle") {
		t.Fatalf("progress on a terminal drew %q", errOut.String())
	}
	var quiet bytes.Buffer
	p = startProgress(&Env{Stderr: &quiet}, "x", 10)
	p.add(5)
	p.stop()
	if quiet.Len() != 0 {
		t.Fatalf("progress off a terminal drew %q", quiet.String())
	}
}
