package conformance

import (
	"errors"

	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S6.1 a job record tells status, attempts, times and last error", fn: testJobRecord},
		test{name: "S6.1 attempts count the deliveries that started", fn: testJobAttempts},
		test{name: "S6.2 status moves forward, back to pending on release or reclaim", fn: testJobStatuses},
		test{name: "S6.3 a final record expires after the job TTL", fn: testJobExpiry},
		test{name: "S6.4 with tracking off there are no records", fn: testJobTrackingOff},
	)
}

func (e *env) job(c *keyq.Client, id string) keyq.Job {
	e.Helper()
	j, err := c.Job(e.ctx, id)
	if err != nil {
		e.Fatalf("Job(%s): %v", id, err)
	}
	return j
}

func (e *env) wantStatus(c *keyq.Client, id string, status keyq.JobStatus, attempts int) keyq.Job {
	e.Helper()
	j := e.job(c, id)
	if j.Status != status || j.Attempts != attempts {
		e.Fatalf("job %s: status %s attempts %d, want %s and %d", id, j.Status, j.Attempts, status, attempts)
	}
	return j
}

func testJobRecord(e *env) {
	c := e.client()
	t0 := e.tg.Now()
	id := e.enqueue(c, "q", "p", keyq.Type("resize"))
	j := e.wantStatus(c, id, keyq.StatusPending, 0)
	if j.ID != id || j.Queue != "q" || j.Type != "resize" || j.EnqueuedAt.Before(t0.Add(-e.u(0.5))) || !j.StartedAt.IsZero() || !j.EndedAt.IsZero() {
		e.Fatalf("pending record %+v", j)
	}
	e.advance(1)
	l := e.next(c)
	j = e.wantStatus(c, id, keyq.StatusRunning, 1)
	if !j.StartedAt.After(j.EnqueuedAt) {
		e.Fatalf("StartedAt %v not after EnqueuedAt %v", j.StartedAt, j.EnqueuedAt)
	}
	e.release(c, l, keyq.Because(errors.New("flaky")))
	if j = e.wantStatus(c, id, keyq.StatusPending, 1); j.LastError != "flaky" {
		e.Fatalf("last error %q, want flaky", j.LastError)
	}
	e.advance(1)
	e.ack(c, e.next(c))
	j = e.wantStatus(c, id, keyq.StatusFinished, 2)
	if !j.EndedAt.After(j.EnqueuedAt) || j.EndedAt.Before(j.StartedAt) {
		e.Fatalf("finished record times %+v", j)
	}
}

// testJobAttempts checks that a record's attempts means one thing in every final
// status (backend.Job): the deliveries that started, so that a task finished on its
// first delivery does not read like one that never ran.
func testJobAttempts(e *env) {
	c := e.client(keyq.WithMaxAttempts(3))
	flaky := errors.New("flaky")

	first := e.enqueue(c, "q", "first")
	l := e.next(c)
	e.wantStatus(c, first, keyq.StatusRunning, 1)
	e.ack(c, l)
	e.wantStatus(c, first, keyq.StatusFinished, 1)

	second := e.enqueue(c, "q", "second")
	e.release(c, e.next(c), keyq.Because(flaky))
	e.wantStatus(c, second, keyq.StatusPending, 1)
	l = e.next(c)
	if l.Attempt != 1 {
		e.Fatalf("second delivery: Task.Attempt %d, want 1", l.Attempt)
	}
	e.wantStatus(c, second, keyq.StatusRunning, 2)
	e.ack(c, l)
	e.wantStatus(c, second, keyq.StatusFinished, 2)

	// A delivery handed back with its attempt kept is taken out of the count.
	kept := e.enqueue(c, "q", "kept")
	e.release(c, e.next(c), keyq.KeepAttempt())
	e.wantStatus(c, kept, keyq.StatusPending, 0)
	e.ack(c, e.next(c))
	e.wantStatus(c, kept, keyq.StatusFinished, 1)

	dead := e.enqueue(c, "q", "dead")
	for i := range 3 {
		e.release(c, e.nextPayload(c, "dead"), keyq.Because(flaky))
		if i < 2 {
			e.wantStatus(c, dead, keyq.StatusPending, i+1)
		}
	}
	e.wantStatus(c, dead, keyq.StatusDead, 3)

	buried := e.enqueue(c, "q", "buried")
	e.release(c, e.next(c), keyq.DeadLetter(), keyq.Because(flaky))
	e.wantStatus(c, buried, keyq.StatusDead, 1)

	if n, err := c.RequeueDead(e.ctx, dead, buried); err != nil || n != 2 {
		e.Fatalf("RequeueDead = %d, %v", n, err)
	}
	e.wantStatus(c, dead, keyq.StatusPending, 0)
	e.wantStatus(c, buried, keyq.StatusPending, 0)
	for range 2 {
		e.ack(c, e.next(c))
	}
	e.wantStatus(c, dead, keyq.StatusFinished, 1)
	e.wantStatus(c, buried, keyq.StatusFinished, 1)

	// Dropped by dedupe before any delivery: it never ran. Dropped after a failed
	// delivery: the one that started.
	once := e.enqueue(c, "q", "cached")
	never := e.enqueue(c, "q", "cached")
	e.release(c, e.nextPayload(c, "cached"), keyq.ToTail(), keyq.Because(flaky)) // once's delivery: behind never now
	e.wantStatus(c, once, keyq.StatusPending, 1)
	if err := c.SetAnswer(e.ctx, "cached", 1); err != nil {
		e.Fatal(err)
	}
	e.none(c)
	e.wantStatus(c, never, keyq.StatusFinished, 0)
	e.wantStatus(c, once, keyq.StatusFinished, 1)
}

func testJobStatuses(e *env) {
	c := e.client(keyq.WithMaxAttempts(2))
	failed := e.enqueue(c, "q", "failed")
	e.ack(c, e.next(c), keyq.WithErrorAnswer("bad input"))
	e.wantStatus(c, failed, keyq.StatusFailed, 1)

	timeout := e.enqueue(c, "q", "timeout")
	e.ack(c, e.next(c), keyq.WithStatus(keyq.StatusTimeout, "ran over"))
	if j := e.wantStatus(c, timeout, keyq.StatusTimeout, 1); j.LastError != "ran over" {
		e.Fatalf("last error %q", j.LastError)
	}

	reclaimed := e.enqueue(c, "q", "reclaimed")
	e.next(c, keyq.LeaseFor(e.u(1)))
	e.advance(2)
	e.housekeeping(c)
	if j := e.wantStatus(c, reclaimed, keyq.StatusPending, 1); j.LastError != "lease expired" {
		e.Fatalf("reclaimed record: last error %q", j.LastError)
	}
	leased := e.mark()
	e.next(c, keyq.LeaseFor(e.u(2)))
	e.within(leased, 2, "the lease and the job read inside it", func() {
		e.wantStatus(c, reclaimed, keyq.StatusRunning, 2)
	})
	e.advance(3)
	e.housekeeping(c)
	e.wantStatus(c, reclaimed, keyq.StatusDead, 2)
	if n, err := c.RequeueDead(e.ctx, reclaimed); err != nil || n != 1 {
		e.Fatalf("RequeueDead = %d, %v", n, err)
	}
	e.wantStatus(c, reclaimed, keyq.StatusPending, 0)

	deduped := e.enqueue(c, "q", "cached")
	if err := c.SetAnswer(e.ctx, "cached", 1); err != nil {
		e.Fatal(err)
	}
	e.drain(c)
	e.wantStatus(c, deduped, keyq.StatusFinished, 0)
}

func testJobExpiry(e *env) {
	c := e.client(keyq.WithJobTTL(e.u(3)))
	done := e.enqueue(c, "q", "done")
	l := e.next(c)
	acked := e.mark()
	e.ack(c, l)
	pending := e.enqueue(c, "q", "pending")
	e.advance(1)
	e.within(acked, 3, "the ack and the job read inside the job TTL", func() {
		e.wantStatus(c, done, keyq.StatusFinished, 1)
	})
	e.advance(3)
	_, err := c.Job(e.ctx, done)
	e.wantErr("Job after the job TTL", err, keyq.ErrNotFound)
	e.advance(10)
	e.wantStatus(c, pending, keyq.StatusPending, 0)
}

func testJobTrackingOff(e *env) {
	c := e.client(keyq.WithJobTracking(false))
	id := e.enqueue(c, "q", "p")
	for _, step := range []func(){func() {}, func() { e.next(c) }} {
		step()
		_, err := c.Job(e.ctx, id)
		e.wantErr("Job with tracking off", err, keyq.ErrNotFound)
	}
	_, err := c.Job(e.ctx, "no-such-id")
	e.wantErr("Job of an unknown ID", err, keyq.ErrNotFound)
}

// housekeeping makes the driver reclaim expired leases and move due tasks, which
// inspection does not do (S9.5): it dequeues from a queue that has no task.
func (e *env) housekeeping(c *keyq.Client) {
	e.Helper()
	e.none(c, keyq.From("housekeeping"))
}
