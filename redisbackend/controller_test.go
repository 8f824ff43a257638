package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// TestControl runs Pause, Cancel and Delayed (S12.1 to S12.5) through the driver
// on miniredis, on a real server by functions and by EVALSHA, and on a cluster,
// which refuses a script that touches a key outside its namespace's slot.
func TestControl(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) { controlScenario(t, newMini(t).b) })
	t.Run("redis", func(t *testing.T) {
		client := realClient(t)
		for _, o := range []Options{{}, {NoFunctions: true}} {
			o.Prefix = testPrefix()
			b, err := New(client, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			controlScenario(t, b)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		b, err := New(startCluster(t), Options{Prefix: testPrefix()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		controlScenario(t, b)
	})
}

func controlScenario(t *testing.T, b *Backend) {
	ctx := context.Background()
	n := b.handle("ctl{x}")
	wakes := newWakeLog()
	stop, err := n.Notify(ctx, wakes.f)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tracked := func(p backend.EnqueueParams) backend.EnqueueParams {
		p.TrackJobs, p.JobTTL, p.Unique = true, time.Hour, true
		return p
	}

	// S12.1: a paused queue is skipped, shows in Stats even when empty, and a
	// resume wakes waiters.
	waiting := mustEnqueue(t, n, tracked(backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("a", 3), msg("b", 3)}}))
	other := mustEnqueue(t, n, backend.EnqueueParams{Queue: "other", Tasks: []backend.Message{msg("o", 3)}})
	if err := n.Pause(ctx, backend.PauseParams{Queues: []string{"q", "empty"}}); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if ls := mustDequeue(t, n, 5, "q", "other"); len(ls) != 1 || ls[0].ID != other[0] {
		t.Fatalf("Dequeue of a paused and a running queue: %v, want task %s of other", ls, other[0])
	}
	st, err := n.Stats(ctx, backend.StatsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Queues["q"].Paused || !st.Queues["empty"].Paused || st.Queues["other"].Paused || st.Queues["q"].Waiting != 2 {
		t.Fatalf("Stats %+v, want q (2 waiting) and empty paused, other not", st.Queues)
	}
	syncWakes(t, n, wakes) // so that the Wake{} below is the resume's
	if err := n.Pause(ctx, backend.PauseParams{Queues: []string{"q", "empty"}, Resume: true}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	wakes.until(t, backend.Wake{}, 5*time.Second)
	if st, _ := n.Stats(ctx, backend.StatsParams{Queues: []string{"q"}}); st.Queues["q"].Paused {
		t.Fatalf("Stats after resume %+v, want q running", st.Queues)
	}

	// S12.5: delayed tasks, earliest first.
	later := mustEnqueue(t, n, tracked(backend.EnqueueParams{Queue: "q", Delay: time.Hour, Tasks: []backend.Message{msg("d", 3)}}))
	sooner := mustEnqueue(t, n, backend.EnqueueParams{Queue: "other", Delay: time.Minute, Tasks: []backend.Message{msg("e", 3)}})
	ds, err := n.Delayed(ctx, backend.DelayedParams{Count: 10})
	if err != nil || len(ds) != 2 || ds[0].ID != sooner[0] || ds[1].ID != later[0] || ds[1].Queue != "q" ||
		!ds[0].Due.Before(ds[1].Due) || string(ds[1].Payload) != "d" {
		t.Fatalf("Delayed = %+v, %v; want %s then %s", ds, err, sooner[0], later[0])
	}
	if ds, err := n.Delayed(ctx, backend.DelayedParams{Queue: "q", Count: 10}); err != nil || len(ds) != 1 || ds[0].ID != later[0] {
		t.Fatalf("Delayed of q = %+v, %v; want %s", ds, err, later[0])
	}

	// S12.2, S12.3: waiting and delayed tasks are removed.
	for _, id := range []string{waiting[1], later[0], sooner[0]} {
		if r, err := n.Cancel(ctx, backend.CancelParams{ID: id}); err != nil || r != backend.CancelRemoved {
			t.Fatalf("Cancel(%s) = %v, %v; want removed", id, r, err)
		}
	}
	if j, err := n.Job(ctx, backend.JobParams{ID: later[0]}); err != nil || j.Status != backend.StatusCancelled || j.EndedAt.IsZero() {
		t.Fatalf("Job(%s) = %+v, %v; want cancelled with EndedAt", later[0], j, err)
	}
	if ds, _ := n.Delayed(ctx, backend.DelayedParams{Count: 10}); len(ds) != 0 {
		t.Fatalf("Delayed after the cancels = %+v, want none", ds)
	}

	// S12.4: a leased task gives ErrLeased without Running; with it, its lease
	// ends, Extend reports it cancelled, Settle lost, and Notify tells.
	ls := mustDequeue(t, n, 5, "q")
	if len(ls) != 1 || ls[0].ID != waiting[0] {
		t.Fatalf("Dequeue = %v, want task %s alone", ls, waiting[0])
	}
	l := ls[0]
	if _, err := n.Cancel(ctx, backend.CancelParams{ID: l.ID}); !errors.Is(err, backend.ErrLeased) {
		t.Fatalf("Cancel of a leased task without Running: %v, want ErrLeased", err)
	}
	if r, err := n.Cancel(ctx, backend.CancelParams{ID: l.ID, Running: true}); err != nil || r != backend.CancelRunning {
		t.Fatalf("Cancel(Running) = %v, %v; want running", r, err)
	}
	wakes.until(t, backend.Wake{Cancelled: l.ID}, 5*time.Second)
	ext, err := n.Extend(ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(l)}, Lease: time.Minute})
	if err != nil || len(ext) != 1 || !ext[0].Cancelled || !ext[0].Deadline.IsZero() {
		t.Fatalf("Extend of the cancelled lease = %+v, %v; want Cancelled", ext, err)
	}
	if err := ack1(ctx, n, l); !errors.Is(err, backend.ErrLeaseLost) {
		t.Fatalf("Ack of the cancelled lease: %v, want lost", err)
	}
	if _, err := n.Cancel(ctx, backend.CancelParams{ID: l.ID, Running: true}); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("second Cancel: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"nope", "00000000-1", l.ID + "0"} {
		if _, err := n.Cancel(ctx, backend.CancelParams{ID: id}); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Cancel(%q): %v, want ErrNotFound", id, err)
		}
	}
	st, err = n.Stats(ctx, backend.StatsParams{})
	if err != nil || st.Counters.Cancelled != 4 || st.Queues["q"].Leased != 0 || st.Counters.Acked != 0 {
		t.Fatalf("Stats = %+v, %v; want 4 cancelled, none leased, none acked", st, err)
	}
	// The cancelled tasks' keys are free again for a unique enqueue.
	mustEnqueue(t, n, tracked(backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("a", 3), msg("b", 3), msg("d", 3)}}))
}

// syncWakes publishes a message of its own on n's channel and waits for it,
// dropping the wake-ups before it: messages published earlier may still be on
// their way when a call returns, and Notify's first Wake{} may come after it
// returned.
func syncWakes(t *testing.T, n *namespace, wakes *wakeLog) {
	t.Helper()
	if err := n.b.client.Publish(context.Background(), n.k.channel, "1:sync").Err(); err != nil {
		t.Fatal(err)
	}
	wakes.until(t, backend.Wake{Queue: "sync", Count: 1}, 5*time.Second)
}

// TestNotifyMessages: the wake-up channel's messages, old and new, become the
// Wake they stand for; a cancel's mark cannot be read as a count.
func TestNotifyMessages(t *testing.T) {
	mt := newMini(t)
	n := mt.b.handle("msgs")
	wakes := newWakeLog()
	stop, err := n.Notify(context.Background(), wakes.f)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	syncWakes(t, n, wakes)
	for _, c := range []struct {
		msg  string
		want backend.Wake
	}{
		{"3:q", backend.Wake{Queue: "q", Count: 3}},
		{"1:a:b", backend.Wake{Queue: "a:b", Count: 1}},
		{"", backend.Wake{}},
		{lua.MsgCancelled + "abcdefgh-12", backend.Wake{Cancelled: "abcdefgh-12"}},
		{lua.MsgCancelled, backend.Wake{}},
		{lua.MsgEvent + "1500", backend.Wake{In: 1500 * time.Millisecond}},
		{lua.MsgEvent + "0", backend.Wake{}},
		{lua.MsgEvent + "-5", backend.Wake{}},
		{lua.MsgEvent + "99999999999999999999", backend.Wake{}},
		{lua.MsgEvent, backend.Wake{}},
		{"0:q", backend.Wake{}},
		{"junk", backend.Wake{}},
	} {
		if err := mt.client.Publish(context.Background(), n.k.channel, c.msg).Err(); err != nil {
			t.Fatal(err)
		}
		if got := wakes.next(t, 5*time.Second, "message "+c.msg); got != c.want {
			t.Errorf("message %q: %+v, want %+v", c.msg, got, c.want)
		}
	}
}

// BenchmarkCancel measures the worst case of Cancel's search (controller.go):
// the task at the tail of a queue of n waiting tasks, which nothing indexes by
// ID, with and without a job record (without one, every queue of the namespace
// is read). Run
//
//	go test -run '^$' -bench Cancel ./redisbackend/
func BenchmarkCancel(b *testing.B) {
	client := realClient(b)
	ctx := context.Background()
	for _, n := range []int{10_000, 100_000} {
		for _, track := range []bool{true, false} {
			b.Run(fmt.Sprintf("waiting=%d/jobs=%v", n, track), func(b *testing.B) {
				rb, err := New(client, Options{Prefix: testPrefix()})
				if err != nil {
					b.Fatal(err)
				}
				defer rb.Close()
				ns := rb.handle("cancel")
				defer rb.DropNamespace(ctx, "cancel")
				enqueue := func(k int) []string {
					p := backend.EnqueueParams{Queue: "q", Tasks: make([]backend.Message, k), TrackJobs: track, JobTTL: time.Hour}
					for j := range p.Tasks {
						p.Tasks[j] = message(int(benchSeq.Add(1)))
					}
					return mustEnqueue(b, ns, p)
				}
				for range n / 1000 {
					enqueue(1000)
				}
				last := enqueue(1)[0]
				for b.Loop() {
					if r, err := ns.Cancel(ctx, backend.CancelParams{ID: last}); err != nil || r != backend.CancelRemoved {
						b.Fatalf("Cancel = %v, %v", r, err)
					}
					b.StopTimer()
					last = enqueue(1)[0]
					b.StartTimer()
				}
			})
		}
	}
}
