package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

// TestControlCommands runs pause, resume, cancel, delete and delayed on each
// store whose driver has a Controller.
func TestControlCommands(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			h := open(t)
			if hd, err := h.q.Backend().Namespace(h.ns); err != nil {
				t.Fatal(err)
			} else if _, ok := hd.(backend.Controller); !ok {
				t.Skipf("the %s driver has no backend.Controller", name)
			}
			t.Run("pause", func(t *testing.T) { testPause(t, open(t)) })
			t.Run("cancel", func(t *testing.T) { testCancel(t, open(t)) })
			t.Run("delete", func(t *testing.T) { testDelete(t, open(t)) })
			t.Run("delayed", func(t *testing.T) { testDelayed(t, open(t)) })
		})
	}
}

// queueRow returns the fields of queue's row in the output of keyq stats.
func queueRow(out, queue string) []string {
	for _, l := range lines(out) {
		if f := strings.Fields(l); len(f) == 6 && f[0] == fmt.Sprintf("%q", queue) {
			return f
		}
	}
	return nil
}

func testPause(t *testing.T, h *harness) {
	ctx := context.Background()
	mustEnqueueCLI(t, h, "q", "x")
	if out := h.ok(t, "", "pause", "q", "empty"); out != "paused \"q\"\npaused \"empty\"\n" {
		t.Fatalf("keyq pause q empty printed %q", out)
	}
	out := h.ok(t, "", "stats")
	if r := queueRow(out, "q"); len(r) != 6 || r[1] != "paused" || r[2] != "1" {
		t.Fatalf("stats after pause: row of q %q, want paused with 1 waiting, in\n%s", r, out)
	}
	if r := queueRow(out, "empty"); len(r) != 6 || r[1] != "paused" {
		t.Fatalf("stats after pause: row of the empty queue %q, want paused, in\n%s", r, out)
	}
	var js struct {
		Queues map[string]map[string]int64
		Paused []string
	}
	if err := json.Unmarshal([]byte(h.ok(t, "", "stats", "--json")), &js); err != nil || !slices.Equal(js.Paused, []string{"empty", "q"}) || js.Queues["q"]["waiting"] != 1 {
		t.Fatalf("stats --json after pause: %+v (%v), want q and empty paused, 1 waiting in q", js, err)
	}
	if l, err := h.q.Next(ctx); err != nil || l != nil {
		t.Fatalf("Next from a paused queue: %v, %v; want nothing", l, err)
	}
	if out := h.ok(t, "", "resume", "q", "--json"); out != `{"queue":"q","state":"resumed"}`+"\n" {
		t.Fatalf("keyq resume q --json printed %q", out)
	}
	if r := queueRow(h.ok(t, "", "stats"), "q"); len(r) != 6 || r[1] != "active" {
		t.Fatalf("stats after resume: row of q %q, want active", r)
	}
	if l, err := h.q.Next(ctx); err != nil || l == nil || string(l.Payload) != "x" {
		t.Fatalf("Next after resume: %v, %v; want the task x", l, err)
	}
}

func mustEnqueueCLI(t *testing.T, h *harness, queue, payload string, opts ...keyq.EnqueueOption) string {
	t.Helper()
	id, err := h.q.Enqueue(context.Background(), queue, []byte(payload), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testCancel(t *testing.T, h *harness) {
	ctx := context.Background()
	waiting := mustEnqueueCLI(t, h, "q", "waiting", keyq.Delay(time.Hour))
	if out := h.ok(t, "", "cancel", waiting); out != "removed "+waiting+"\n" {
		t.Fatalf("keyq cancel of a delayed task printed %q", out)
	}
	running := mustEnqueueCLI(t, h, "q", "running")
	l, err := h.q.Next(ctx)
	if err != nil || l == nil || l.ID != running {
		t.Fatalf("Next: %v, %v", l, err)
	}
	if out := h.ok(t, "", "cancel", "--json", running); out != fmt.Sprintf(`{"id":%q,"result":"running"}`+"\n", running) {
		t.Fatalf("keyq cancel --json of a running task printed %q", out)
	}
	if err := h.q.Ack(ctx, l); err == nil {
		t.Fatal("Ack of a lease cancelled by keyq cancel succeeded")
	}
	for _, id := range []string{waiting, running} {
		if j, err := h.q.Job(ctx, id); err != nil || j.Status != keyq.StatusCancelled {
			t.Fatalf("job %s after keyq cancel: %+v, %v; want status cancelled", id, j, err)
		}
	}
	want := fmt.Sprintf("keyq cancel: waiting, delayed or running task %s not found in namespace %q\n", running, h.ns)
	if code, out, errOut := h.run(t, "", "cancel", running); code != 1 || out != "" || errOut != want {
		t.Fatalf("keyq cancel of a cancelled task: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	if out := h.ok(t, "", "stats"); !strings.Contains(out, "CANCELLED") {
		t.Fatalf("stats does not show the Cancelled counter:\n%s", out)
	}
}

func testDelete(t *testing.T, h *harness) {
	ctx := context.Background()
	id := mustEnqueueCLI(t, h, "q", "x")
	if out := h.ok(t, "", "delete", id); out != "removed "+id+"\n" {
		t.Fatalf("keyq delete printed %q", out)
	}
	if n := waiting(t, h, "q"); n != 0 {
		t.Fatalf("%d tasks wait after keyq delete, want 0", n)
	}
	want := fmt.Sprintf("keyq delete: waiting or delayed task %s not found in namespace %q\n", id, h.ns)
	if code, out, errOut := h.run(t, "", "delete", id); code != 1 || out != "" || errOut != want {
		t.Fatalf("keyq delete of a deleted task: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	leased := mustEnqueueCLI(t, h, "q", "leased")
	l, err := h.q.Next(ctx)
	if err != nil || l == nil {
		t.Fatalf("Next: %v, %v", l, err)
	}
	want = fmt.Sprintf("keyq delete: task %s is running in namespace %q: keyq cancel ends it (task is leased)\n", leased, h.ns)
	if code, out, errOut := h.run(t, "", "delete", leased); code != 1 || out != "" || errOut != want {
		t.Fatalf("keyq delete of a leased task: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	if err := h.q.Ack(ctx, l); err != nil {
		t.Fatalf("Ack after a refused keyq delete: %v", err)
	}
}

func testDelayed(t *testing.T, h *harness) {
	mustEnqueueCLI(t, h, "q", "now")
	late := mustEnqueueCLI(t, h, "q", "late", keyq.Delay(2*time.Hour))
	soon := mustEnqueueCLI(t, h, "r", "soon", keyq.Delay(time.Hour), keyq.Type("mail"))
	out := h.ok(t, "", "delayed")
	ls := lines(out)
	if len(ls) != 3 || !strings.HasPrefix(ls[0], "ID") || !strings.HasPrefix(ls[1], soon+" ") || !strings.Contains(ls[1], "mail") ||
		!strings.HasPrefix(ls[2], late+" ") || !strings.Contains(ls[2], `"late"`) {
		t.Fatalf("keyq delayed printed\n%s\nwant soon (%s), then late (%s)", out, soon, late)
	}
	if ls := lines(h.ok(t, "", "delayed", "--queue", "q")); len(ls) != 2 || !strings.HasPrefix(ls[1], late+" ") {
		t.Fatalf("keyq delayed --queue q printed %q, want late alone", ls)
	}
	if ls := lines(h.ok(t, "", "delayed", "--offset", "1", "--count", "1")); len(ls) != 2 || !strings.HasPrefix(ls[1], late+" ") {
		t.Fatalf("keyq delayed --offset 1 --count 1 printed %q, want late alone", ls)
	}
	var j struct {
		ID      string    `json:"id"`
		Queue   string    `json:"queue"`
		Payload string    `json:"payload"`
		Due     time.Time `json:"due"`
	}
	out = h.ok(t, "", "delayed", "--json", "--count", "1")
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.ID != soon || j.Queue != "r" || j.Payload != "soon" || j.Due.IsZero() {
		t.Fatalf("keyq delayed --json --count 1 printed %q (%v), want soon with its due time", out, err)
	}
	if n := waiting(t, h, "q"); n != 1 {
		t.Fatalf("keyq delayed changed the queue: %d waiting", n)
	}
}
