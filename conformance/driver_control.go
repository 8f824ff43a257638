package conformance

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S12.1 driver: a paused queue is skipped by Dequeue in any queue order, the rest goes on, and Stats shows it", fn: testDriverPause, driver: true},
		test{name: "S12.1 driver: a resume wakes Notify's listeners", fn: testDriverResumeWakes, driver: true},
		test{name: "S12.2 and S12.3 driver: Cancel removes a waiting or delayed task for good, its record cancelled, its key free", fn: testDriverCancelQueued, driver: true},
		test{name: "S12.2 driver: Cancel of an unknown, acked or dead task is ErrNotFound and changes nothing", fn: testDriverCancelNotFound, driver: true},
		test{name: "S12.3 and S12.4 driver: Cancel of a leased task without Running is ErrLeased and changes nothing", fn: testDriverCancelLeased, driver: true},
		test{name: "S12.4 driver: Cancel with Running ends a lease for good: Extend reports it cancelled, Settle lost, no reclaim", fn: testDriverCancelRunning, driver: true},
		test{name: "S12.5 driver: Delayed lists tasks not yet due, earliest first, by queue, offset and count, and only reads", fn: testDriverDelayed, driver: true},
	)
}

// driverController returns h as a backend.Controller, or skips the test.
func (e *env) driverController(h backend.Namespace) backend.Controller {
	e.Helper()
	c, ok := h.(backend.Controller)
	if !ok {
		e.Skip("optional: the driver does not implement backend.Controller")
	}
	return c
}

// driverPause pauses queues, or resumes them.
func (e *env) driverPause(c backend.Controller, resume bool, queues ...string) {
	e.Helper()
	if err := c.Pause(e.ctx, backend.PauseParams{Queues: queues, Resume: resume}); err != nil {
		e.Fatalf("Pause(%q, resume %v): %v", queues, resume, err)
	}
}

// driverCancel cancels the task id and checks what the call reports.
func (e *env) driverCancel(c backend.Controller, id string, running bool, want backend.CancelResult) {
	e.Helper()
	got, err := c.Cancel(e.ctx, backend.CancelParams{ID: id, Running: running})
	if err != nil || got != want {
		e.Fatalf("Cancel(%s, running %v) = %v, %v; want %v", id, running, got, err, want)
	}
}

// driverStats returns the Stats of every queue, or nil when h is no Inspector.
func (e *env) driverStats(h backend.Namespace, queues ...string) *backend.Stats {
	e.Helper()
	in, ok := h.(backend.Inspector)
	if !ok {
		return nil
	}
	st, err := in.Stats(e.ctx, backend.StatsParams{Queues: queues})
	if err != nil {
		e.Fatalf("Stats(%q): %v", queues, err)
	}
	return &st
}

// wantCancelledJob checks, when h is an Inspector, that the job record of id
// ended cancelled between t0 and t1.
func (e *env) wantCancelledJob(h backend.Namespace, id string, t0, t1 time.Time) {
	e.Helper()
	in, ok := h.(backend.Inspector)
	if !ok {
		return
	}
	j, err := in.Job(e.ctx, backend.JobParams{ID: id})
	if err != nil {
		e.Fatalf("Job(%s) after its Cancel: %v", id, err)
	}
	if j.Status != backend.StatusCancelled || j.EndedAt.Before(t0.Truncate(time.Millisecond)) || j.EndedAt.After(t1.Add(time.Millisecond)) {
		e.Fatalf("job of the cancelled task %s: %+v; want status cancelled, ended in [%v, %v]", id, j, t0, t1)
	}
}

// lookAgain reports Wakes that hold Wake{}: every waiter looks again.
func lookAgain(ws []backend.Wake) bool {
	for _, w := range ws {
		if w == (backend.Wake{}) {
			return true
		}
	}
	return false
}

// testDriverPause pauses q, then checks that no Dequeue delivers from it, with q
// first or last in the list of queues (a weighted dequeue reaches the driver as
// such a list, drawn by package keyq), while the other queue is served and q's
// enqueues, releases, reclaims and due delayed tasks go on; that Stats shows it
// paused, and an empty paused queue too; that pausing twice is pausing once;
// and that after the resume q delivers everything it gathered, in order.
func testDriverPause(e *env) {
	h := e.handle()
	c := e.driverController(h)
	e.put(h, backend.EnqueueParams{Queue: "q"}, "released", "reclaimed")
	e.put(h, backend.EnqueueParams{Queue: "q", Delay: e.u(2)}, "delayed")
	ls := e.takePayloads(h, []string{"q"}, "released")
	e.take(h, backend.DequeueParams{Lease: e.u(2)})
	e.put(h, backend.EnqueueParams{Queue: "other"}, "x", "y", "z")

	e.driverPause(c, false, "q", "idle")
	e.driverPause(c, false, "q")
	e.put(h, backend.EnqueueParams{Queue: "q"}, "enqueued")
	e.settleAll(h, results(backend.SettleDone), release(ls[0]))
	e.advance(3) // the lease ends and the delayed task falls due: both to q
	e.takePayloads(h, []string{"q"})
	e.takePayloads(h, []string{"q", "other"}, "x")
	e.takePayloads(h, []string{"other", "q"}, "y")
	e.takePayloads(h, []string{"q", "idle", "other"}, "z")
	e.takePayloads(h, []string{"idle", "q", "other"})

	if st := e.driverStats(h); st != nil {
		if q := st.Queues["q"]; q != (backend.QueueStats{Waiting: 4, Paused: true}) {
			e.Fatalf("Stats of the paused q = %+v; want 4 waiting, paused", q)
		}
		if q, ok := st.Queues["idle"]; !ok || q != (backend.QueueStats{Paused: true}) {
			e.Fatalf("Stats of every queue list idle as %+v (listed: %v); want it listed, paused, with no task", q, ok)
		}
		if q := st.Queues["other"]; q.Paused || q.Leased != 3 {
			e.Fatalf("Stats of other = %+v; want 3 leased, not paused", q)
		}
		if st.Counters.Reclaimed != 1 {
			e.Fatalf("counters %+v; want the lease of a paused queue's task reclaimed", st.Counters)
		}
	}
	if st := e.driverStats(e.handle(), "idle"); st != nil && st.Queues["idle"] != (backend.QueueStats{Paused: true}) {
		e.Fatalf("Stats of idle alone, through a second handle = %+v; want paused", st.Queues["idle"])
	}

	e.driverPause(c, true, "q")
	// Housekeeping puts the due and the reclaimed task at the head; which of them
	// first, and when, is not this rule's concern.
	got := payloads(e.take(h, backend.DequeueParams{Queues: []string{"idle", "q"}, Count: 5}).Leases)
	if slices.Sort(got); !slices.Equal(got, []string{"delayed", "enqueued", "reclaimed", "released"}) {
		e.Fatalf("Dequeue after the resume delivered %q; want the 4 tasks q gathered while paused", got)
	}
	e.driverPause(c, true, "q", "never-paused")
	if st := e.driverStats(h, "q", "idle"); st != nil && (st.Queues["q"].Paused || !st.Queues["idle"].Paused) {
		e.Fatalf("Stats after resuming q alone = %+v; want q running, idle still paused", st.Queues)
	}
}

// testDriverResumeWakes listens to a Notifier while q is paused with a task in
// it: the resume sends Wake{}, and the task is then delivered.
func testDriverResumeWakes(e *env) {
	h := e.handle()
	c := e.driverController(h)
	n, ok := h.(backend.Notifier)
	if !ok {
		e.Skip("optional: the driver does not implement backend.Notifier")
	}
	e.driverPause(c, false, "q")
	w := newWakes()
	stop, err := n.Notify(e.ctx, w.f)
	if err != nil {
		e.Fatalf("Notify: %v", err)
	}
	defer stop()
	e.put(h, backend.EnqueueParams{Queue: "q"}, "a")
	e.takePayloads(h, []string{"q"})
	w.take()
	e.driverPause(c, true, "q")
	e.await(w, "the resume of a paused queue", lookAgain)
	e.takePayloads(h, []string{"q"}, "a")
}

// testDriverCancelQueued cancels two waiting tasks (one with Running, which
// changes nothing for a task not leased) and a delayed one: none is delivered,
// the delayed one not even once due; their job records end cancelled and expire
// after the job TTL; the counter says 3; their keys are free for a unique
// enqueue; a second Cancel of each is ErrNotFound.
func testDriverCancelQueued(e *env) {
	h := e.handle()
	c := e.driverController(h)
	tracked := backend.EnqueueParams{Queue: "q", Unique: true, TrackJobs: true, JobTTL: e.u(5)}
	ids := e.put(h, tracked, "w1", "w2", "w3", "w4")
	delayed := tracked
	delayed.Delay = e.u(10)
	ids = append(ids, e.put(h, delayed, "d")...)
	var t0, t1 time.Time
	t0, t1 = e.between(func() {
		e.driverCancel(c, ids[1], false, backend.CancelRemoved)
		e.driverCancel(c, ids[2], true, backend.CancelRemoved)
		e.driverCancel(c, ids[4], false, backend.CancelRemoved)
	})
	for _, i := range []int{1, 2, 4} {
		e.wantCancelledJob(h, ids[i], t0, t1)
		_, err := c.Cancel(e.ctx, backend.CancelParams{ID: ids[i], Running: true})
		e.wantErr(fmt.Sprintf("a second Cancel of task %s", ids[i]), err, backend.ErrNotFound)
	}
	if st := e.driverStats(h, "q"); st != nil && (st.Queues["q"] != (backend.QueueStats{Waiting: 2}) || st.Counters.Cancelled != 3) {
		e.Fatalf("Stats after 3 cancels = %+v; want 2 waiting in q and 3 cancelled", st)
	}
	again := e.put(h, backend.EnqueueParams{Queue: "q", Unique: true}, "w2", "w3", "d")
	e.takePayloads(h, []string{"q"}, "w1", "w4", "w2", "w3", "d")
	e.advance(11)
	e.takePayloads(h, []string{"q"})
	if in, ok := h.(backend.Inspector); ok {
		for _, i := range []int{1, 2, 4} {
			_, err := in.Job(e.ctx, backend.JobParams{ID: ids[i]})
			e.wantErr(fmt.Sprintf("Job of the task %s cancelled past its job TTL", ids[i]), err, backend.ErrNotFound)
		}
	}
	for _, id := range again {
		if id == ids[1] || id == ids[2] || id == ids[4] {
			e.Fatalf("a new task got the ID %s of a cancelled one", id)
		}
	}
}

// testDriverCancelNotFound cancels, with and without Running, a task acked, one
// dead, one deduped on dequeue, and IDs that name no task: each is ErrNotFound
// and the namespace, stocked with every kind of task, reads the same after.
func testDriverCancelNotFound(e *env) {
	h := e.handle()
	c := e.driverController(h)
	_, keys := e.stock(h)
	ids := e.put(h, backend.EnqueueParams{Queue: "q2"}, "acked", "dead", "k")
	ls := e.takePayloads(h, []string{"q2"}, "acked", "dead")
	e.settleAll(h, results(backend.SettleDone, backend.SettleDone), ack(ls[0]), backend.Settlement{LeaseRef: ref(ls[1]), Action: backend.DeadLetter})
	if r := e.take(h, backend.DequeueParams{Queues: []string{"q2"}}); len(r.Leases) != 0 || r.Deduped != 1 {
		e.Fatalf("Dequeue of a task whose key has an answer: %d leases, %d deduped; want it dropped", len(r.Leases), r.Deduped)
	}
	before := e.snap(h, keys...)
	for _, id := range append(ids, "999999999", "0", "-1", "x") {
		for _, running := range []bool{false, true} {
			r, err := c.Cancel(e.ctx, backend.CancelParams{ID: id, Running: running})
			if !errors.Is(err, backend.ErrNotFound) {
				e.Errorf("Cancel(%q, running %v) = %v, %v; want ErrNotFound", id, running, r, err)
			}
		}
	}
	e.wantUnchanged("Cancel of tasks not waiting, delayed or leased", h, before, keys...)
}

// testDriverCancelLeased cancels a leased task without Running: ErrLeased, and
// the lease, the job record and the counters are as they were; the lease can
// still be extended and acked.
func testDriverCancelLeased(e *env) {
	h := e.handle()
	c := e.driverController(h)
	ids := e.put(h, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: e.u(100)}, "a", "b")
	l := e.takePayloads(h, []string{"q"}, "a")[0]
	before := e.snap(h, "a")
	var job backend.Job
	if in, ok := h.(backend.Inspector); ok {
		var err error
		if job, err = in.Job(e.ctx, backend.JobParams{ID: ids[0]}); err != nil {
			e.Fatal(err)
		}
	}
	r, err := c.Cancel(e.ctx, backend.CancelParams{ID: l.ID})
	if !errors.Is(err, backend.ErrLeased) || errors.Is(err, backend.ErrNotFound) {
		e.Fatalf("Cancel of a leased task without Running = %v, %v; want ErrLeased", r, err)
	}
	e.wantUnchanged("Cancel of a leased task without Running", h, before, "a")
	if in, ok := h.(backend.Inspector); ok {
		if after, err := in.Job(e.ctx, backend.JobParams{ID: ids[0]}); err != nil || !reflect.DeepEqual(after, job) {
			e.Fatalf("job record after the refused Cancel: %+v, %v; want %+v", after, err, job)
		}
	}
	got, err := h.Extend(e.ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(l)}, Lease: e.u(100)})
	if err != nil || len(got) != 1 || got[0].Deadline.IsZero() || got[0].Cancelled {
		e.Fatalf("Extend after the refused Cancel = %+v, %v; want the lease live", got, err)
	}
	e.settleAll(h, results(backend.SettleDone), ack(l))
}

// testDriverCancelRunning leases two tasks, cancels one with Running and checks
// that its lease ended for good: a Notify listener hears Wake{Cancelled: id};
// Extend reports it Cancelled with no deadline, and moves the other; a Settle
// of it is lost and stores no answer; its job record ends cancelled; Stats
// counts it cancelled, not leased, not acked; a unique enqueue of its key
// succeeds; and once its deadline has passed it is not reclaimed nor delivered,
// and a Cancel of it is ErrNotFound.
func testDriverCancelRunning(e *env) {
	h := e.handle()
	c := e.driverController(h)
	var w *wakes
	if n, ok := h.(backend.Notifier); ok {
		w = newWakes()
		stop, err := n.Notify(e.ctx, w.f)
		if err != nil {
			e.Fatalf("Notify: %v", err)
		}
		defer stop()
	}
	ids := e.put(h, backend.EnqueueParams{Queue: "q", Unique: true, TrackJobs: true, JobTTL: e.u(100)}, "run", "keep")
	mark := e.mark()
	ls := e.take(h, backend.DequeueParams{Count: 2, Lease: e.u(10)}).Leases
	if len(ls) != 2 || ls[0].ID != ids[0] {
		e.Fatalf("Dequeue(2) delivered %q, want run and keep", payloads(ls))
	}
	run, keep := ls[0], ls[1]
	t0, t1 := e.between(func() { e.driverCancel(c, run.ID, true, backend.CancelRunning) })
	if w != nil {
		e.await(w, "the cancel of a running task", func(ws []backend.Wake) bool { return wakeCancelled(ws, run.ID) })
	}
	e.within(mark, 10, "the checks before the cancelled lease's deadline", func() {
		got, err := h.Extend(e.ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(run), ref(keep)}, Lease: e.u(100)})
		if err != nil || len(got) != 2 || got[0] != (backend.ExtendResult{Cancelled: true}) || got[1].Deadline.IsZero() || got[1].Cancelled {
			e.Fatalf("Extend of the cancelled lease and a live one = %+v, %v; want {Cancelled} and a new deadline", got, err)
		}
		before := e.snap(h, "run")
		e.settleAll(h, results(backend.SettleLost, backend.SettleLost),
			backend.Settlement{LeaseRef: ref(run), Action: backend.Ack, Answer: &backend.Answer{Value: []byte("late"), OK: true, TTL: e.u(100)}},
			release(run))
		e.wantUnchanged("a Settle of the cancelled lease", h, before, "run")
		if got, err := h.Extend(e.ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(run)}, Lease: e.u(100)}); err != nil || len(got) != 1 || got[0] != (backend.ExtendResult{Cancelled: true}) {
			e.Fatalf("Extend of the cancelled lease after its Settle = %+v, %v; want it still cancelled", got, err)
		}
	})
	e.wantCancelledJob(h, run.ID, t0, t1)
	if st := e.driverStats(h, "q"); st != nil {
		if q, n := st.Queues["q"], st.Counters; q != (backend.QueueStats{Leased: 1}) || n.Cancelled != 1 || n.Acked != 0 || n.Delivered != 2 {
			e.Fatalf("Stats after cancelling one of two leases = %+v; want 1 leased in q, 1 cancelled, none acked", st)
		}
	}
	if in, ok := h.(backend.Inspector); ok {
		leases, err := in.Leases(e.ctx, backend.LeasesParams{Count: 10})
		if err != nil || len(leases) != 1 || leases[0].ID != keep.ID {
			e.Fatalf("Leases after the cancel = %+v, %v; want keep's alone", leases, err)
		}
	}
	again := e.put(h, backend.EnqueueParams{Queue: "q", Unique: true}, "run")[0]
	e.advance(11)
	l := e.takePayloads(h, []string{"q"}, "run")[0]
	if l.ID != again || l.Attempt != 0 {
		e.Fatalf("delivered task %s attempt %d; want the new task %s, attempt 0, never the cancelled %s", l.ID, l.Attempt, again, run.ID)
	}
	e.takePayloads(h, []string{"q"})
	if st := e.driverStats(h, "q"); st != nil && st.Counters.Reclaimed != 0 {
		e.Fatalf("counters %+v: a lease was reclaimed", st.Counters)
	}
	_, err := c.Cancel(e.ctx, backend.CancelParams{ID: run.ID, Running: true})
	e.wantErr("a second Cancel of the cancelled running task", err, backend.ErrNotFound)
	e.settleAll(h, results(backend.SettleDone, backend.SettleDone), ack(keep), ack(l))
}

// wakeCancelled reports whether ws holds Wake{Cancelled: id}.
func wakeCancelled(ws []backend.Wake, id string) bool {
	for _, w := range ws {
		if w == (backend.Wake{Cancelled: id}) {
			return true
		}
	}
	return false
}

// testDriverDelayed enqueues delayed tasks in two queues, out of due order, and
// releases one with a delay, then lists them: every queue or one, with an offset
// and a count, earliest due first, each with its due time on the backend's
// clock. Listing changes nothing; a task that fell due is listed no more, even
// before a call that writes has moved it.
func testDriverDelayed(e *env) {
	h := e.handle()
	in, ok := h.(backend.Inspector)
	if !ok {
		e.Skip("optional: the driver does not implement backend.Inspector")
	}
	list := func(p backend.DelayedParams) []backend.DelayedTask {
		e.Helper()
		ds, err := in.Delayed(e.ctx, p)
		if err != nil {
			e.Fatalf("Delayed(%+v): %v", p, err)
		}
		return ds
	}
	e.put(h, backend.EnqueueParams{Queue: "q"}, "released", "waiting")
	l := e.takePayloads(h, []string{"q"}, "released")[0]
	mark := e.mark()
	due := map[string][2]time.Time{} // payload: the earliest and latest due time it may have
	put := func(queue, payload string, n float64) {
		t0, t1 := e.between(func() { e.put(h, backend.EnqueueParams{Queue: queue, Delay: e.u(n)}, payload) })
		due[payload] = [2]time.Time{t0.Truncate(time.Millisecond).Add(e.u(n)), t1.Add(e.u(n) + time.Millisecond)}
	}
	put("q", "q30", 30)
	put("other", "o10", 10)
	put("q", "q20", 20)
	put("q", "q5", 5)
	t0, t1 := e.between(func() {
		e.settleAll(h, results(backend.SettleDone), backend.Settlement{LeaseRef: ref(l), Action: backend.Release, Delay: e.u(15)})
	})
	due["released"] = [2]time.Time{t0.Truncate(time.Millisecond).Add(e.u(15)), t1.Add(e.u(15) + time.Millisecond)}
	want := func(what string, ds []backend.DelayedTask, payloads ...string) {
		e.Helper()
		var got []string
		for _, d := range ds {
			got = append(got, string(d.Payload))
		}
		if !reflect.DeepEqual(got, payloads) && (len(got) > 0 || len(payloads) > 0) {
			e.Fatalf("Delayed %s = %q, want %q", what, got, payloads)
		}
		for _, d := range ds {
			p := string(d.Payload)
			if r := due[p]; d.Due.Before(r[0]) || d.Due.After(r[1]) {
				e.Fatalf("Delayed %s: %s due at %v, want in [%v, %v]", what, p, d.Due, r[0], r[1])
			}
			queue, attempt := "q", 0
			switch p {
			case "o10":
				queue = "other"
			case "released":
				attempt = 1
			}
			if d.Queue != queue || d.ID == "" || d.Key != p || d.MaxAttempts != 25 || d.Attempt != attempt {
				e.Fatalf("Delayed %s: %+v; want task %s of %s as enqueued, attempt %d", what, d.Task, p, queue, attempt)
			}
		}
	}
	e.within(mark, 5, "listing before the first delayed task is due", func() {
		before := e.snap(h, "q5")
		want("of every queue", list(backend.DelayedParams{Count: 10}), "q5", "o10", "released", "q20", "q30")
		want("of q", list(backend.DelayedParams{Queue: "q", Count: 10}), "q5", "released", "q20", "q30")
		want("of q, offset 1, count 2", list(backend.DelayedParams{Queue: "q", Offset: 1, Count: 2}), "released", "q20")
		want("of every queue, offset 4", list(backend.DelayedParams{Offset: 4, Count: backend.MaxCount}), "q30")
		want("of every queue, offset 5", list(backend.DelayedParams{Offset: 5, Count: 1}))
		want("of other", list(backend.DelayedParams{Queue: "other", Count: 1}), "o10")
		want("of a queue with none", list(backend.DelayedParams{Queue: "none", Count: 1}))
		e.wantUnchanged("listing delayed tasks", h, before, "q5")
	})
	e.advance(6)
	e.within(mark, 10, "listing before the second delayed task is due", func() {
		before := e.snap(h)
		want("once q5 is due", list(backend.DelayedParams{Count: 10}), "o10", "released", "q20", "q30")
		e.wantUnchanged("listing delayed tasks once one is due", h, before)
		if st := before.Stats; st.Queues["q"].Waiting != 2 || st.Queues["q"].Delayed != 3 {
			e.Fatalf("Stats once q5 is due = %+v; want it waiting beside the other waiting task, 3 delayed", st.Queues["q"])
		}
	})
	e.takePayloads(h, []string{"q"}, "q5", "waiting")
}
