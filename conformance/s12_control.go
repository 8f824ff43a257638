package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
)

func init() {
	register(
		test{name: "S12.1 a worker skips a paused queue and serves its others while enqueues go on; a resume restarts it, no worker restart needed", fn: testPauseWorker},
		test{name: "S12.1 the paused state is stored: a new client sees it in Stats, even for an empty queue, and its dequeues skip the queue", fn: testPauseStored},
		test{name: "S12.1 acks, releases and reclaims of a paused queue's tasks go on, and a resume wakes a waiting consumer", fn: testPauseSettles},
		test{name: "S12.1 a weighted dequeue takes from the others while one queue is paused", fn: testPauseWeighted},
		test{name: "S12.2 Delete removes a waiting or delayed task; a leased one is ErrLeased and left alone; a gone one ErrNotFound", fn: testDelete},
		test{name: "S12.3 Cancel removes a waiting or delayed task before any worker sees it", fn: testCancelWaiting},
		test{name: "S12.4 Cancel of a task running under a Worker ends its handler with the cause ErrCancelled, for good", fn: testCancelRunning},
		test{name: "S12.4 a cancelled lease held by a client: Ack and Release are ErrLeaseLost, Extend ErrCancelled", fn: testCancelLease},
		test{name: "S12.5 Delayed lists tasks not yet due, earliest first, per queue or all, in windows, and changes nothing", fn: testDelayedList},
	)
}

func (e *env) pause(c *keyq.Client, queues ...string) {
	e.Helper()
	if err := c.Pause(e.ctx, queues...); err != nil {
		e.Fatalf("Pause(%q): %v", queues, err)
	}
}

func (e *env) resume(c *keyq.Client, queues ...string) {
	e.Helper()
	if err := c.Resume(e.ctx, queues...); err != nil {
		e.Fatalf("Resume(%q): %v", queues, err)
	}
}

// wantCancelled checks the end of a task deleted or cancelled: its job record
// final with the status cancelled, and nothing of it delivered.
func (e *env) wantCancelled(c *keyq.Client, id string) {
	e.Helper()
	j := e.job(c, id)
	if j.Status != keyq.StatusCancelled || !j.Status.Final() || j.EndedAt.IsZero() {
		e.Fatalf("job %s: %+v, want the final status cancelled, with EndedAt", id, j)
	}
}

func testPauseWorker(e *env) {
	c := e.client(keyq.Queues("a", "b"))
	e.pause(c, "a")
	e.enqueue(c, "a", "a1") // a is served first while it runs
	e.enqueue(c, "b", "b1")
	out := e.worker(c, clock.NewFake(workEpoch), keyq.WorkerConfig{Lease: e.u(30), PollWait: e.u(1)},
		func(_ context.Context, t *keyq.Task) (any, error) { return string(t.Payload), nil })
	if o := e.outcomeOf(out, keyq.OutcomeFinished); string(o.task.Payload) != "b1" {
		e.Fatalf("the worker first finished %q, want b1: a is paused", o.task.Payload)
	}
	e.enqueue(c, "b", "b2")
	if o := e.outcomeOf(out, keyq.OutcomeFinished); string(o.task.Payload) != "b2" {
		e.Fatalf("the worker finished %q, want b2: a is paused", o.task.Payload)
	}
	if q := e.queueStats(c, "a"); q != (keyq.QueueStats{Waiting: 1, Paused: true}) {
		e.Fatalf("paused queue a: %+v, want its task waiting and Paused", q)
	}
	e.resume(c, "a")
	if o := e.outcomeOf(out, keyq.OutcomeFinished); string(o.task.Payload) != "a1" {
		e.Fatalf("after the resume the worker finished %q, want a1", o.task.Payload)
	}
	e.wantQueue(c, "a", keyq.QueueStats{})
}

func testPauseStored(e *env) {
	c := e.client()
	e.enqueue(c, "q", "x")
	e.pause(c, "q", "empty")
	e.pause(c, "q") // again: no change, no error
	e.resume(c, "running")

	other := e.client() // another process's client, on the same store
	st := e.stats(other)
	if q := st.Queues["q"]; q != (keyq.QueueStats{Waiting: 1, Paused: true}) {
		e.Fatalf("Stats of a new client: queue q %+v, want 1 waiting and Paused", q)
	}
	if q, ok := st.Queues["empty"]; !ok || q != (keyq.QueueStats{Paused: true}) {
		e.Fatalf("Stats of a new client: queue empty %+v (listed %v), want it listed and Paused", q, ok)
	}
	if q := e.queueStats(other, "running"); q.Paused {
		e.Fatalf("a resumed queue that was not paused: %+v, want not Paused", q)
	}
	e.none(other)
	e.enqueue(other, "q", "y") // enqueues go on
	e.wantQueue(other, "q", keyq.QueueStats{Waiting: 2, Paused: true})
	e.none(other, keyq.Batch(5))
	e.resume(other, "q")
	e.resume(other, "q") // again: no change, no error
	e.wantQueue(c, "q", keyq.QueueStats{Waiting: 2})
	if got := e.drain(c); len(got) != 2 || got[0] != "x" || got[1] != "y" {
		e.Fatalf("after the resume: %q, want x and y", got)
	}
}

func testPauseSettles(e *env) {
	c := e.client()
	for _, p := range []string{"ack", "release", "expire"} {
		e.enqueue(c, "q", p)
	}
	acked := e.nextPayload(c, "ack", keyq.LeaseFor(e.u(30)))
	released := e.nextPayload(c, "release", keyq.LeaseFor(e.u(30)))
	e.nextPayload(c, "expire", keyq.LeaseFor(e.u(2)))
	e.pause(c, "q")
	e.ack(c, acked)
	e.release(c, released)
	e.advance(3)
	e.housekeeping(c) // reclaims the expired lease: back in the paused queue
	if q := e.queueStats(c, "q"); q != (keyq.QueueStats{Waiting: 2, Paused: true}) {
		e.Fatalf("paused queue after an ack, a release and a reclaim: %+v, want 2 waiting", q)
	}
	st := e.stats(c)
	if st.Counters.Acked != 1 || st.Counters.Released != 1 || st.Counters.Reclaimed != 1 {
		e.Fatalf("counters %+v, want one ack, one release and one reclaim", st.Counters)
	}
	e.none(c)
	got := e.waitingNext(c, "q")
	e.settle(1)
	e.resume(c, "q")
	if l := receive(e, got, "a consumer waiting on a paused queue, after the resume"); l == nil {
		e.Fatal("a consumer waiting on a paused queue got nothing after the resume")
	}
}

func testPauseWeighted(e *env) {
	c := e.client()
	e.enqueue(c, "heavy", "h")
	e.enqueue(c, "light", "l")
	e.pause(c, "heavy")
	// Heavy is drawn first in all but 1 of 1,000,001 calls; it is paused.
	l := e.next(c, keyq.Weighted(map[string]int{"heavy": keyq.MaxWeight, "light": 1}))
	if l.Queue != "light" {
		e.Fatalf("weighted Next took from %q, want light: heavy is paused", l.Queue)
	}
	e.none(c, keyq.Weighted(map[string]int{"heavy": keyq.MaxWeight, "light": 1}))
	e.resume(c, "heavy")
	if l := e.next(c, keyq.Weighted(map[string]int{"heavy": 1, "light": 1})); l.Queue != "heavy" {
		e.Fatalf("weighted Next after the resume took from %q, want heavy", l.Queue)
	}
}

func testDelete(e *env) {
	c := e.client()
	waiting := e.enqueue(c, "q", "waiting")
	delayed := e.enqueue(c, "q", "delayed", keyq.Delay(e.u(3)))
	e.enqueue(c, "q", "kept")
	for _, id := range []string{waiting, delayed} {
		if err := c.Delete(e.ctx, id); err != nil {
			e.Fatalf("Delete(%s): %v", id, err)
		}
		e.wantCancelled(c, id)
		e.wantErr("a second Delete", c.Delete(e.ctx, id), keyq.ErrNotFound)
	}
	e.advance(4)
	leased := e.nextPayload(c, "kept") // the deleted ones never come
	e.none(c)
	e.wantErr("Delete of a leased task", c.Delete(e.ctx, leased.ID), keyq.ErrLeased)
	e.wantQueue(c, "q", keyq.QueueStats{Leased: 1})
	if j := e.job(c, leased.ID); j.Status != keyq.StatusRunning {
		e.Fatalf("job of the leased task after a refused Delete: %+v, want running", j)
	}
	e.ack(c, leased)
	e.wantErr("Delete of an acked task", c.Delete(e.ctx, leased.ID), keyq.ErrNotFound)
	e.wantErr("Delete of an unknown ID", c.Delete(e.ctx, "no-such-id"), keyq.ErrNotFound)
	dead := e.enqueue(c, "q", "dead", keyq.MaxAttempts(1))
	e.release(c, e.nextPayload(c, "dead"))
	e.wantErr("Delete of a dead task", c.Delete(e.ctx, dead), keyq.ErrNotFound)
	if st := e.stats(c); st.Counters.Cancelled != 2 || st.Queues["q"] != (keyq.QueueStats{Dead: 1}) {
		e.Fatalf("stats %+v, want Cancelled 2 and the dead task alone", st)
	}
}

func testCancelWaiting(e *env) {
	c := e.client()
	waiting := e.enqueue(c, "q", "waiting")
	delayed := e.enqueue(c, "q", "delayed", keyq.Delay(e.u(3)))
	for _, id := range []string{waiting, delayed} {
		r, err := c.Cancel(e.ctx, id)
		if err != nil || r != keyq.CancelRemoved {
			e.Fatalf("Cancel(%s): %v, %v; want CancelRemoved", id, r, err)
		}
		e.wantCancelled(c, id)
		_, err = c.Cancel(e.ctx, id)
		e.wantErr("a second Cancel", err, keyq.ErrNotFound)
	}
	e.advance(4)
	e.enqueue(c, "q", "after")
	started := make(chan string, 4)
	out := e.worker(c, clock.NewFake(workEpoch), keyq.WorkerConfig{Lease: e.u(30), PollWait: e.u(1)},
		func(_ context.Context, t *keyq.Task) (any, error) {
			started <- string(t.Payload)
			return nil, nil
		})
	e.outcomeOf(out, keyq.OutcomeFinished)
	if p := <-started; p != "after" {
		e.Fatalf("the worker ran %q, want only after: the others were cancelled", p)
	}
	e.wantQueue(c, "q", keyq.QueueStats{})
	if st := e.stats(c); st.Counters.Cancelled != 2 {
		e.Fatalf("counters %+v, want Cancelled 2", st.Counters)
	}
}

func testCancelRunning(e *env) {
	c := e.client()
	id := e.enqueue(c, "q", "slow")
	started := make(chan struct{}, 4)
	causes := make(chan error, 4)
	// The worker keeps real time, so that its heartbeat tells it of the cancel
	// on a driver without Notifier.
	out := e.worker(c, clock.Real(), keyq.WorkerConfig{Lease: e.u(3), PollWait: e.u(1), Backoff: keyq.ImmediateBackoff},
		func(ctx context.Context, _ *keyq.Task) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return "answer of a cancelled task", nil
		})
	receive(e, started, "the handler's start")
	r, err := c.Cancel(e.ctx, id)
	if err != nil || r != keyq.CancelRunning {
		e.Fatalf("Cancel of a running task: %v, %v; want CancelRunning", r, err)
	}
	if cause := receive(e, causes, "the handler's context's end after Cancel"); !errors.Is(cause, keyq.ErrCancelled) {
		e.Fatalf("handler context cause %v, want ErrCancelled", cause)
	}
	if o := e.outcomeOf(out, keyq.OutcomeCancelled); o.task.ID != id || !errors.Is(o.err, keyq.ErrCancelled) {
		e.Fatalf("outcome of task %s: error %v, want ErrCancelled for %s", o.task.ID, o.err, id)
	}
	e.wantCancelled(c, id)
	if _, err := c.Answer(e.ctx, "slow"); !errors.Is(err, keyq.ErrNotFound) {
		e.Fatalf("answer of the cancelled task: %v, want ErrNotFound: the handler's result is not stored", err)
	}
	e.advance(4) // past the lease as it was: nothing comes back
	e.housekeeping(c)
	e.wantQueue(c, "q", keyq.QueueStats{})
	select {
	case <-started:
		e.Fatal("the cancelled task was delivered again")
	default:
	}
	if st := e.stats(c); st.Counters.Cancelled != 1 || st.Counters.Reclaimed != 0 {
		e.Fatalf("counters %+v, want Cancelled 1 and nothing reclaimed", st.Counters)
	}
}

func testCancelLease(e *env) {
	c := e.client()
	id := e.enqueue(c, "q", "held")
	mark := e.mark()
	l := e.next(c, keyq.LeaseFor(e.u(10)))
	r, err := c.Cancel(e.ctx, id)
	if err != nil || r != keyq.CancelRunning {
		e.Fatalf("Cancel of a leased task: %v, %v; want CancelRunning", r, err)
	}
	e.within(mark, 8, "the lease, the cancel and the calls on the lease", func() {
		e.wantErr("Extend of a cancelled lease", c.Extend(e.ctx, l, e.u(10)), keyq.ErrCancelled)
		e.wantLost("Ack of a cancelled lease", c.Ack(e.ctx, l, keyq.WithAnswer("late")))
		e.wantLost("Release of a cancelled lease", c.Release(e.ctx, l))
	})
	e.wantCancelled(c, id)
	e.advance(11)
	e.none(c)
	e.wantQueue(c, "q", keyq.QueueStats{})
	_, err = c.Answer(e.ctx, "held")
	e.wantErr("the answer of an ack after the cancel", err, keyq.ErrNotFound)
	_, err = c.Cancel(e.ctx, id)
	e.wantErr("a second Cancel", err, keyq.ErrNotFound)
	if st := e.stats(c); st.Counters.Cancelled != 1 || st.Counters.Acked != 0 || st.Counters.Reclaimed != 0 {
		e.Fatalf("counters %+v, want Cancelled 1, no ack and no reclaim", st.Counters)
	}
}

func testDelayedList(e *env) {
	c := e.client()
	e.enqueue(c, "q", "now")
	mark := e.mark()
	late := e.enqueue(c, "q", "late", keyq.Delay(e.u(300)))
	soon := e.enqueue(c, "r", "soon", keyq.Delay(e.u(10)), keyq.Type("mail"))
	mid := e.enqueue(c, "q", "mid", keyq.Delay(e.u(200)))
	after := e.mark()
	ids := func(ds []keyq.DelayedTask) (out []string) {
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	list := func(queue string, offset, count int) []keyq.DelayedTask {
		e.Helper()
		ds, err := c.Delayed(e.ctx, queue, offset, count)
		if err != nil {
			e.Fatalf("Delayed(%q, %d, %d): %v", queue, offset, count, err)
		}
		return ds
	}
	// soon is due 10 units after its enqueue.
	e.within(mark, 9, "the enqueues and the listings before soon is due", func() {
		all := list("", 0, 10)
		if got := ids(all); len(got) != 3 || got[0] != soon || got[1] != mid || got[2] != late {
			e.Fatalf("Delayed of every queue: %v, want soon %s, mid %s, late %s", got, soon, mid, late)
		}
		for i, n := range []float64{10, 200, 300} {
			d := all[i]
			if d.Due.Before(mark.Add(e.u(n))) || d.Due.After(after.Add(e.u(n)).Add(time.Millisecond)) {
				e.Fatalf("task %s due %v, want %v after its enqueue, between %v and %v", d.ID, d.Due, e.u(n), mark.Add(e.u(n)), after.Add(e.u(n)))
			}
		}
		if s := all[0]; s.Queue != "r" || s.Type != "mail" || string(s.Payload) != "soon" {
			e.Fatalf("delayed task %+v, want the task soon of queue r, type mail", s.Task)
		}
		if got := ids(list("q", 0, 10)); len(got) != 2 || got[0] != mid || got[1] != late {
			e.Fatalf("Delayed of queue q: %v, want mid and late", got)
		}
		if got := ids(list("", 1, 1)); len(got) != 1 || got[0] != mid {
			e.Fatalf("Delayed from 1, count 1: %v, want mid", got)
		}
		if got := list("", 3, 10); len(got) != 0 {
			e.Fatalf("Delayed past the end: %v, want none", ids(got))
		}
		if got := list("none", 0, 10); len(got) != 0 {
			e.Fatalf("Delayed of a queue without tasks: %v, want none", ids(got))
		}
	})
	e.wantQueue(c, "q", keyq.QueueStats{Waiting: 1, Delayed: 2})
	e.advance(11)
	e.housekeeping(c)
	if got := ids(list("", 0, 10)); len(got) != 2 || got[0] != mid || got[1] != late {
		e.Fatalf("Delayed once soon is due: %v, want mid and late", got)
	}
	e.nextPayload(c, "soon", keyq.Queues("r"))
}
