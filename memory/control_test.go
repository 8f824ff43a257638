package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

func (d *driver) extend(t *testing.T, l backend.Lease) backend.ExtendResult {
	t.Helper()
	got, err := d.ns.Extend(d.ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(l)}, Lease: time.Minute})
	if err != nil || len(got) != 1 {
		t.Fatalf("extend: %v %v", got, err)
	}
	return got[0]
}

func (d *driver) cancel(t *testing.T, id string, running bool) backend.CancelResult {
	t.Helper()
	r, err := d.ns.Cancel(d.ctx, backend.CancelParams{ID: id, Running: running})
	if err != nil {
		t.Fatalf("cancel %s: %v", id, err)
	}
	return r
}

// A cancelled lease is reported Cancelled by Extend until its deadline as it was
// when cancelled, a deadline an earlier Extend had moved, and not after; then
// the namespace keeps nothing of it.
func TestCancelledLeaseExpires(t *testing.T) {
	d := newDriver(t)
	d.enqueue(t, backend.EnqueueParams{Queue: "q"}, "a")
	l := d.dequeue(t, 1, 10*time.Second, "q").Leases[0]
	d.clk.Advance(5 * time.Second)
	if r := d.extend(t, l); !r.Deadline.Equal(d.clk.Now().Add(time.Minute)) || r.Cancelled {
		t.Fatalf("extend of the live lease: %+v", r)
	}
	if r := d.cancel(t, l.ID, true); r != backend.CancelRunning {
		t.Fatalf("cancel: %v, want running", r)
	}
	cancelled := backend.ExtendResult{Cancelled: true}
	if r := d.extend(t, l); r != cancelled {
		t.Fatalf("extend just after the cancel: %+v, want %+v", r, cancelled)
	}
	if r := d.extend(t, backend.Lease{Task: backend.Task{ID: "999"}, Token: l.Token}); r != (backend.ExtendResult{}) {
		t.Fatalf("extend of the cancelled token under another task ID: %+v, want lost, not cancelled", r)
	}
	d.clk.Advance(time.Minute - time.Millisecond)
	if r := d.extend(t, l); r != cancelled {
		t.Fatalf("extend 1ms before the old deadline: %+v, want %+v", r, cancelled)
	}
	if n := d.ns.CancelledLeases(); n != 1 {
		t.Fatalf("%d cancelled leases kept before the deadline, want 1", n)
	}
	d.clk.Advance(time.Millisecond)
	if r := d.extend(t, l); r != (backend.ExtendResult{}) {
		t.Fatalf("extend at the old deadline: %+v, want the lease lost, no longer cancelled", r)
	}
	if n := d.ns.CancelledLeases(); n != 0 {
		t.Fatalf("%d cancelled leases kept after the deadline, want 0", n)
	}
}

// Cancelled leases are dropped once their deadlines pass, however many: they do
// not pile up. Housekeeping drops a batch per call.
func TestCancelledLeasesDoNotGrow(t *testing.T) {
	d := newDriver(t)
	const n = backend.HousekeepingBatch + 500
	payloads := make([]string, n)
	for i := range payloads {
		payloads[i] = "t"
	}
	d.enqueue(t, backend.EnqueueParams{Queue: "q"}, payloads...)
	for _, l := range d.dequeue(t, n, time.Second, "q").Leases {
		d.cancel(t, l.ID, true)
	}
	if got := d.ns.CancelledLeases(); got != n {
		t.Fatalf("%d cancelled leases kept, want %d", got, n)
	}
	st := d.stats(t)
	if q := st.Queues["q"]; q != (backend.QueueStats{}) || st.Counters.Cancelled != n || st.Counters.Acked != 0 {
		t.Fatalf("stats after cancelling every lease: %+v; want an empty queue, %d cancelled, none acked", st, n)
	}
	d.clk.Advance(time.Second)
	d.dequeue(t, 1, time.Second, "q")
	if got := d.ns.CancelledLeases(); got != n-backend.HousekeepingBatch {
		t.Fatalf("%d cancelled leases kept after one call past their deadlines, want %d", got, n-backend.HousekeepingBatch)
	}
	d.dequeue(t, 1, time.Second, "q")
	if got := d.ns.CancelledLeases(); got != 0 {
		t.Fatalf("%d cancelled leases kept after two calls, want 0", got)
	}
	if st := d.stats(t); st.Counters.Reclaimed != 0 {
		t.Fatalf("counters %+v: a cancelled lease was reclaimed", st.Counters)
	}
}

// A lease past its deadline that housekeeping has not yet reclaimed (more expired
// at once than one round takes) is waiting as far as Cancel is concerned: it is
// removed, or, when its reclaim dead-letters it, not found.
func TestCancelExpiredLease(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     int
		want    backend.CancelResult
		wantErr error
	}{{"back to its queue", 3, backend.CancelRemoved, nil}, {"dead", 1, 0, backend.ErrNotFound}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t)
			const n = backend.HousekeepingBatch + 1
			msgs := make([]backend.Message, n)
			for i := range msgs {
				msgs[i] = backend.Message{Key: "k", MaxAttempts: tc.max}
			}
			if _, err := d.ns.Enqueue(d.ctx, backend.EnqueueParams{Queue: "q", Tasks: msgs}); err != nil {
				t.Fatal(err)
			}
			ls := d.dequeue(t, n, time.Second, "q").Leases
			var r recorder
			stop, err := d.ns.Notify(d.ctx, r.f)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			d.clk.Advance(time.Second)
			last := ls[n-1] // the last to expire: its reclaim is left for the next call
			got, err := d.ns.Cancel(d.ctx, backend.CancelParams{ID: last.ID})
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Fatalf("cancel: %v %v, want %v %v", got, err, tc.want, tc.wantErr)
			}
			st := d.stats(t)
			want := backend.QueueStats{Waiting: n - 1}
			if tc.max == 1 {
				want = backend.QueueStats{Dead: n}
			}
			if st.Queues["q"] != want || st.Counters.Reclaimed != n {
				t.Fatalf("stats: %+v; want %+v and %d reclaimed", st, want, n)
			}
			if tc.max > 1 {
				r.expect(t, "the reclaims", backend.Wake{Queue: "q", Count: n - 1})
			}
		})
	}
}

// While a queue is paused its enqueues wake nobody and a Dequeue of it alone
// reports no Next to sleep towards (nothing is due); its resume sends Wake{},
// once; pausing sends nothing.
func TestPauseSignals(t *testing.T) {
	d := newDriver(t)
	var r recorder
	stop, err := d.ns.Notify(d.ctx, r.f)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	pause := func(resume bool, queues ...string) {
		t.Helper()
		if err := d.ns.Pause(d.ctx, backend.PauseParams{Queues: queues, Resume: resume}); err != nil {
			t.Fatal(err)
		}
	}
	pause(false, "q", "never")
	pause(false, "q")
	r.expect(t, "pausing")
	d.enqueue(t, backend.EnqueueParams{Queue: "q"}, "a", "b")
	r.expect(t, "an enqueue to a paused queue")
	if res := d.dequeue(t, 1, time.Minute, "q"); len(res.Leases) != 0 || res.Next != 0 {
		t.Fatalf("dequeue of the paused queue: %+v, want nothing and Next 0", res)
	}
	pause(true, "other")
	r.expect(t, "resuming a queue never paused")
	pause(true, "q", "never")
	r.expect(t, "resuming two paused queues", backend.Wake{})
	pause(true, "q")
	r.expect(t, "resuming a running queue")
	if n := len(d.dequeue(t, 2, time.Minute, "q").Leases); n != 2 {
		t.Fatalf("dequeue after the resume: %d tasks, want 2", n)
	}
	st := d.stats(t)
	if _, ok := st.Queues["other"]; ok {
		t.Fatalf("stats %+v list a queue only resumed, never used", st.Queues)
	}
}

// Cancelling a running task sends Wake{Cancelled} and nothing else.
func TestCancelSignal(t *testing.T) {
	d := newDriver(t)
	d.enqueue(t, backend.EnqueueParams{Queue: "q"}, "a", "b")
	ids := d.enqueue(t, backend.EnqueueParams{Queue: "q", Delay: time.Hour}, "later")
	l := d.dequeue(t, 1, time.Minute, "q").Leases[0]
	var r recorder
	stop, err := d.ns.Notify(d.ctx, r.f)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	d.cancel(t, l.ID, true)
	r.expect(t, "a cancel of a running task", backend.Wake{Cancelled: l.ID})
	d.cancel(t, ids[0], false)
	r.expect(t, "a cancel of a delayed task")
}
