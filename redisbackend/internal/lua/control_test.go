package lua

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The scripts of backend.Controller and Inspector.Delayed (S12), each run on its
// own with KEYS and ARGV, and the keys it left checked.

// listen subscribes to the namespace's wake-up channel, and registers as a
// listener for an hour as Notify does (listen.lua), so that the scripts publish;
// it returns a function that returns the next message, failing t when none
// comes within a deadline.
func (e *env) listen() func() string {
	e.t.Helper()
	next := e.subscribe()
	e.run("listen", "3600000", "life")
	return next
}

// subscribe subscribes to the namespace's wake-up channel, without registering
// as a listener, and returns listen's function.
func (e *env) subscribe() func() string {
	e.t.Helper()
	ctx := context.Background()
	ps := e.c.Subscribe(ctx, e.key(Channel))
	e.t.Cleanup(func() { ps.Close() })
	if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil { // the confirmation
		e.t.Fatalf("subscribe: %v", err)
	}
	return func() string {
		e.t.Helper()
		v, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			e.t.Fatalf("no message on the wake-up channel within 5s: %v", err)
		}
		m, ok := v.(*redis.Message)
		if !ok {
			e.t.Fatalf("wake-up channel: %T %v, want a message", v, v)
		}
		return m.Payload
	}
}

// mark publishes a message of the test's own, and fails t unless it is the next
// one read: nothing was published since the last one read.
func (e *env) mark(next func() string) {
	e.t.Helper()
	if err := e.c.Publish(context.Background(), e.key(Channel), "mark").Err(); err != nil {
		e.t.Fatal(err)
	}
	if m := next(); m != "mark" {
		e.t.Fatalf("wake-up channel: %q before the test's mark", m)
	}
}

// drain publishes a mark and reads every message up to it.
func (e *env) drain(next func() string) {
	e.t.Helper()
	if err := e.c.Publish(context.Background(), e.key(Channel), "mark").Err(); err != nil {
		e.t.Fatal(err)
	}
	for next() != "mark" {
	}
}

// TestPause: pause.lua keeps the paused queues in the state key ps, which
// dequeue.lua skips and stats.lua reports, even for a queue that holds nothing;
// pausing a paused queue and resuming a running one change nothing, and a resume
// that changes something publishes an empty message.
func TestPause(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		next := e.listen()
		e.enqueue("q1", 0, false, 3, "a", "b") // tasks 1, 2
		e.enqueue("q2", 0, false, 3, "c")      // task 3
		e.drain(next)
		if r := e.run("pause", "0", "q1", "empty", ""); num(t, r[1]) != 2 {
			t.Fatalf("pause %v, want 2 queues changed", r)
		}
		if ps := e.get(KeyPaused); ps != packed("empty")+packed("q1") {
			t.Fatalf("%s %q, want %q", KeyPaused, ps, packed("empty")+packed("q1"))
		}
		before := e.snapshot()
		if r := e.run("pause", "0", "q1", ""); num(t, r[1]) != 0 {
			t.Fatalf("pause of a paused queue %v, want none changed", r)
		}
		if r := e.run("pause", "1", "q2", ""); num(t, r[1]) != 0 {
			t.Fatalf("resume of a running queue %v, want none changed", r)
		}
		sameKeys(t, "pausing a paused queue and resuming a running one", before, e.snapshot())
		e.mark(next)                         // nothing published by them
		e.enqueue("empty", 0, false, 3, "x") // task 4
		e.mark(next)                         // a paused queue's tasks wake nobody

		r := e.dequeue(5, 60000, "q1", "q2")
		// {now, deadline, deduped, next, more, first token - 1, q2, 1, blob, epoch}
		if len(r) != 10 || r[6] != "q2" || parseBlob(t, r[8].(string)).id != "3" {
			t.Fatalf("dequeue %v, want task 3 of q2 alone", r)
		}
		if m := next(); m != MsgEvent+"60000" {
			t.Errorf("the first lease published %q, want %q: its deadline is the earliest event", m, MsgEvent+"60000")
		}
		if r := e.dequeue(5, 60000, "q1"); len(r) != 7 || num(t, r[3]) < 0 {
			t.Fatalf("dequeue of the paused queue alone %v, want nothing and the time of the next event", r)
		}
		if len(e.list(KeyQueue+"q1")) != 2 {
			t.Fatalf("q1 holds %q, want tasks 1 and 2", e.list(KeyQueue+"q1"))
		}

		r = e.runRO("stats")
		got := map[string]int64{}
		for i := 2; i+5 < len(r); i += 6 {
			got[r[i].(string)] = num(t, r[i+5])
		}
		if len(got) != 3 || got["q1"] != 1 || got["empty"] != 1 || got["q2"] != 0 {
			t.Errorf("stats %v, want q1 and empty paused, q2 not", r)
		}

		if r := e.run("pause", "1", "q1", "empty", ""); num(t, r[1]) != 2 {
			t.Fatalf("resume %v, want 2 queues changed", r)
		}
		if m := next(); m != "" {
			t.Errorf("resume published %q, want an empty message", m)
		}
		if ps := e.get(KeyPaused); ps != "" {
			t.Errorf("%s %q, want no paused queue", KeyPaused, ps)
		}
		if r := e.dequeue(5, 60000, "q1", "empty"); len(r) != 14 || num(t, r[7]) != 2 || num(t, r[11]) != 1 {
			t.Fatalf("dequeue after the resume %v, want tasks 1 and 2, then 4", r)
		}
	})
}

// trackedEnqueue enqueues tracked tasks with the given keys, uniquely, so that
// the key index is kept, and returns the first ID - 1.
func (e *env) trackedEnqueue(q string, delayMS string, max int, keys ...string) int64 {
	e.t.Helper()
	args := []any{q, "0", delayMS, "1", "60000"}
	for _, k := range keys {
		args = append(args, pre(k, max, true), k, "type")
	}
	r := e.runWith("enqueue", []string{e.key(KeyQueue + q)}, append(args, "e1", "")...)
	if len(r) != 3 {
		e.t.Fatalf("enqueue reply %v", r)
	}
	return num(e.t, r[1])
}

// cancel runs cancel.lua for task id (without its epoch) in epoch ep and returns
// its outcome.
func (e *env) cancel(id, ep string, running bool) string {
	e.t.Helper()
	r := e.runWith("cancel", []string{e.key(KeyJob + id)}, id, ep, flag(running), "")
	if len(r) != 2 {
		e.t.Fatalf("cancel reply %v", r)
	}
	return r[1].(string)
}

// TestCancel: cancel.lua removes a waiting task (tracked or not) from its list and
// a delayed one from the zset; it ends a live lease only when asked to, leaving a
// tombstone that extend.lua reports as -1 until the lease's deadline and
// publishing the cancel; each ends the task's job record, key index entry and
// counts. A task that is not there, in another epoch or done, is "none".
func TestCancel(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		next := e.listen()
		e.trackedEnqueue("q", "0", 3, "a", "b", "c") // tasks 1, 2, 3
		e.trackedEnqueue("q", "60000", 3, "d")       // task 4, delayed
		r := e.dequeue(1, 1000, "q")                 // task 1, token 5
		deadline := num(t, r[1])
		e.enqueue("u", 0, false, 3, "u") // task 6, untracked, in queue u
		if m := next(); m != "3:q" {     // the enqueue's wake-up
			t.Fatalf("message %q", m)
		}
		e.drain(next)

		if o := e.cancel("2", "e1", false); o != "removed" {
			t.Fatalf("cancel of waiting task 2: %q, want removed", o)
		}
		if l := e.list(KeyQueue + "q"); len(l) != 1 || parseBlob(t, l[0]).id != "3" {
			t.Errorf("q holds %d blobs, want task 3 alone", len(l))
		}
		if o := e.cancel("4", "e1", true); o != "removed" {
			t.Fatalf("cancel of delayed task 4: %q, want removed", o)
		}
		if e.exists(KeyDelayed) {
			t.Errorf("delayed %v, want none", e.zset(KeyDelayed))
		}
		if o := e.cancel("6", "e1", false); o != "removed" || len(e.list(KeyQueue+"u")) != 0 {
			t.Fatalf("cancel of untracked waiting task 6: %q, queue u %d, want removed from it", o, len(e.list(KeyQueue+"u")))
		}

		before := e.snapshot()
		if o := e.cancel("1", "e1", false); o != "leased" {
			t.Fatalf("cancel of leased task 1 without running: %q, want leased", o)
		}
		for _, c := range []struct{ id, ep string }{{"99", "e1"}, {"01", "e1"}, {"1", "e2"}, {"x", "e1"}} {
			if o := e.cancel(c.id, c.ep, true); o != "none" {
				t.Errorf("cancel of %s in %s: %q, want none", c.id, c.ep, o)
			}
		}
		sameKeys(t, "cancels that find nothing to do", before, e.snapshot())
		e.mark(next)

		if o := e.cancel("1", "e1", true); o != "running" {
			t.Fatalf("cancel of leased task 1 with running: %q, want running", o)
		}
		if m := next(); m != MsgCancelled+"e1-1" {
			t.Errorf("message %q, want %q", m, MsgCancelled+"e1-1")
		}
		if len(e.hash(KeyRecords+"0")) != 0 || e.exists(KeyLease) || e.exists(KeyLeases) {
			t.Errorf("lease records %v, groups %v left", e.hash(KeyRecords+"0"), e.hash(KeyLease))
		}
		if v, want := e.get(KeyCancelled+"5"), fmt.Sprintf("1@%d", deadline); v != want {
			t.Errorf("tombstone of token 5 %q, want %q", v, want)
		}
		ttl, err := e.c.PTTL(context.Background(), e.key(KeyCancelled+"5")).Result()
		if err != nil || ttl <= 0 || ttl > time.Second {
			t.Errorf("tombstone TTL %v, %v, want until the lease's deadline %d", ttl, err, deadline)
		}
		st := e.counts()
		if st["cancelled"] != 4 || st["leased:q"] != 0 || st[StatDelayed+"q"] != 0 || st["acked"] != 0 {
			t.Errorf("stats %v, want 4 cancelled, none leased or delayed, none acked", st)
		}
		for _, id := range []string{"1", "2", "4"} {
			j := e.hash(KeyJob + id)
			if j["status"] != "cancelled" || j["end"] == "" {
				t.Errorf("job %s %v, want cancelled with an end", id, j)
			}
			if ttl, _ := e.c.PTTL(context.Background(), e.key(KeyJob+id)).Result(); ttl <= 0 {
				t.Errorf("job %s has no TTL", id)
			}
		}
		for _, k := range []string{"a", "b", "d"} {
			d := digestOf(k)
			if ix := e.hash(KeyIndex + d[:1] + string(rune(d[1]/16))); len(ix) != 0 {
				t.Errorf("key index of %q %q, want it gone", k, ix)
			}
		}

		if r := e.run("extend", "e1", "60000", "5", "1", "5", "9", ""); num(t, r[1]) != -1 || num(t, r[2]) != 0 {
			t.Errorf("extend of the cancelled lease %v, want -1, and 0 with another task's ID", r)
		}
		if r := e.run("settle", "e1", "0", "5", "1", "r00", "0", "", ""); num(t, r[0]) != 0 {
			t.Errorf("release of the cancelled lease %v, want 0 (lost)", r)
		}
		if o := e.cancel("1", "e1", true); o != "none" {
			t.Errorf("cancel of cancelled task 1: %q, want none", o)
		}
		e.pass(1050 * time.Millisecond)
		if r := e.run("extend", "e1", "60000", "5", "1", ""); num(t, r[1]) != 0 {
			t.Errorf("extend of the cancelled lease past its deadline %v, want 0", r)
		}
		// A lease past its deadline that housekeeping has not reached (its due
		// time is held back here, as when more expired than a round takes) is
		// reclaimed by the cancel, then removed from its queue; or, reclaimed
		// into the dead letters, not found.
		for _, c := range []struct {
			max  int
			want string
		}{{3, "removed"}, {1, "none"}} {
			e.drain(next)
			id := fmt.Sprint(e.trackedEnqueue("x", "0", c.max, fmt.Sprint("x", c.max)) + 1)
			e.dequeue(1, 20, "x")
			e.pass(30 * time.Millisecond)
			if err := e.c.Set(context.Background(), e.key(KeyDue), "9007199254740992", 0).Err(); err != nil {
				t.Fatal(err)
			}
			st := e.counts()
			if o := e.cancel(id, "e1", false); o != c.want {
				t.Fatalf("cancel of task %s past its lease at max %d: %q, want %q", id, c.max, o, c.want)
			}
			after := e.counts()
			if after["reclaimed"] != st["reclaimed"]+1 || after["leased:x"] != 0 || len(e.list(KeyQueue+"x")) != 0 {
				t.Errorf("stats %v, queue x %d: want one more reclaimed, none leased, nothing waiting", after, len(e.list(KeyQueue+"x")))
			}
			j := e.hash(KeyJob + id)
			if want := map[int]string{3: "cancelled", 1: "dead"}[c.max]; j["status"] != want || j["attempts"] != "1" {
				t.Errorf("job %s %v, want %s at 1 attempt", id, j, want)
			}
			if _, dead := e.hash(KeyDead)[id]; dead != (c.max == 1) {
				t.Errorf("dead %v: task %s dead %v, want %v", e.hash(KeyDead), id, dead, c.max == 1)
			}
		}

		// Task 3 is unique-enqueued again: its key is still indexed, b's is free.
		if r := e.runWith("enqueue", []string{e.key(KeyQueue + "q")}, "q", "0", "0", "1", "0",
			pre("c", 3, false), "c", "e1", ""); r[0] != "dup" {
			t.Errorf("unique enqueue of waiting c %v, want dup", r)
		}
		if r := e.runWith("enqueue", []string{e.key(KeyQueue + "q")}, "q", "0", "0", "1", "0",
			pre("b", 3, false), "b", "e1", ""); len(r) != 3 {
			t.Errorf("unique enqueue of cancelled b %v, want it queued", r)
		}
	})
}

// TestDelayed: delayed.lua lists delayed tasks not yet due, earliest first, of
// every queue or one, in a window, and changes nothing.
func TestDelayed(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.enqueue("a", 100, false, 3, "a1")      // task 1
		e.enqueue("b", 60000, false, 3, "b1")    // task 2
		e.enqueue("a", 30000, false, 3, "a2")    // task 3
		e.enqueue("b", 30000, false, 3, "b2")    // task 4
		e.enqueue("a", 90000, false, 3, "a3")    // task 5
		e.enqueue("c{x}", 90000, false, 3, "c1") // task 6
		e.enqueue("a", 0, false, 3, "waiting")   // task 7
		e.pass(150 * time.Millisecond)           // task 1 is due
		ids := func(r []any) (out []string) {
			t.Helper()
			if len(r) < 2 || r[len(r)-1] != "e1" || len(r)%2 != 0 {
				t.Fatalf("delayed reply %v", r)
			}
			last := int64(0)
			for i := 1; i+1 < len(r); i += 2 {
				due := num(t, r[i])
				if due < last {
					t.Errorf("due %d after %d: not earliest first", due, last)
				}
				last = due
				m := r[i+1].(string)
				for _, q := range []string{"a", "b", "c{x}"} {
					if len(m) > len(packed(q)) && m[:len(packed(q))] == packed(q) {
						out = append(out, q+parseBlob(t, m[len(packed(q)):]).id)
					}
				}
			}
			return out
		}
		before := e.snapshot()
		for _, c := range []struct {
			q, off, n string
			want      []string
		}{
			{"", "0", "10", []string{"a3", "b4", "b2", "a5", "c{x}6"}},
			{"", "1", "2", []string{"b4", "b2"}},
			{"", "4", "4294967296", []string{"c{x}6"}},
			{"", "9", "1", nil},
			{"a", "0", "10", []string{"a3", "a5"}},
			{"a", "1", "10", []string{"a5"}},
			{"b", "0", "1", []string{"b4"}},
			{"c{x}", "0", "5", []string{"c{x}6"}},
			{"none", "0", "5", nil},
		} {
			if got := ids(e.runRO("delayed", c.q, c.off, c.n)); !slices.Equal(got, c.want) {
				t.Errorf("delayed %q from %s, %s: %v, want %v", c.q, c.off, c.n, got, c.want)
			}
		}
		sameKeys(t, "delayed", before, e.snapshot())
	})
}
