package lua

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Each script run on its own with KEYS and ARGV, and the keys it left checked.

// TestEnqueue: a unique enqueue writes the queue list, the key index, the job
// records, the queues set, the counters and the sequence; a second one with a key
// in the index changes nothing; a delayed one writes the delayed zset.
func TestEnqueue(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		now := e.serverMS()
		r := e.runWith("enqueue", []string{e.key(KeyQueue + "q")}, "q", "0", "0", "1", "60000",
			pre("a", 3, true), "rest-a", "type-a", pre("b", 3, true), "rest-b", "type-b", "e1", "")
		if len(r) != 3 || num(t, r[1]) != 0 || r[2] != "e1" {
			t.Fatalf("reply %v, want {now, 0, e1}", r)
		}
		list := e.list(KeyQueue + "q")
		if len(list) != 2 {
			t.Fatalf("queue holds %d blobs, want 2", len(list))
		}
		for i, k := range []string{"a", "b"} {
			b := parseBlob(t, list[i])
			id := fmt.Sprint(i + 1)
			if b.id != id || b.digest != digestOf(k) || b.max != 3 || b.attempt != 0 || b.rest != "rest-"+k ||
				b.flags&FlagTracked == 0 || b.enqueued < now {
				t.Errorf("blob %d: %+v", i, b)
			}
			ix := e.hash(KeyIndex + digestOf(k)[:1] + string(rune(digestOf(k)[1]/16)))
			if _, ok := ix[digestOf(k)+id]; !ok {
				t.Errorf("key index of %q: %q, want the field digest .. %s", k, ix, id)
			}
			j := e.hash(KeyJob + id)
			if j["queue"] != "q" || j["type"] != "type-"+k || j["ttl"] != "60000" || j["status"] != "" {
				t.Errorf("job record %s: %v", id, j)
			}
		}
		if st := e.counts(); st["enqueued"] != 2 || e.get(KeyIndexed) != "1" {
			t.Errorf("stats %v, %s %q, want enqueued 2 and the index kept", st, KeyIndexed, e.get(KeyIndexed))
		}
		if e.get(KeySeq) != "2" || e.get(KeyEpoch) != "e1" {
			t.Errorf("seq %q epoch %q, want 2 and e1", e.get(KeySeq), e.get(KeyEpoch))
		}
		if m, _ := e.c.SMembers(context.Background(), e.key(KeyQueues)).Result(); !slices.Equal(m, []string{"q"}) {
			t.Errorf("queues %v, want [q]", m)
		}

		before := e.snapshot()
		if r := e.runWith("enqueue", []string{e.key(KeyQueue + "q")}, "q", "0", "0", "1", "0", pre("b", 3, false), "b", "e1", ""); r[0] != "dup" {
			t.Errorf("unique enqueue of a waiting key: %v, want {dup}", r)
		}
		sameKeys(t, "a duplicate enqueue", before, e.snapshot())

		now = e.serverMS()
		e.enqueue("later", 5000, false, 3, "c")
		z := e.zset(KeyDelayed)
		if len(z) != 1 || int64(z[0].Score) < now+5000 {
			t.Fatalf("delayed %v, want one member due in 5s from %d", z, now)
		}
		m := z[0].Member.(string)
		want := fmt.Sprintf("%0*d", Pad, 3) + packed("later")
		if m[:len(want)] != want || parseBlob(t, m[len(want):]).id != "3" {
			t.Errorf("delayed member %q, want pad(3) .. pack(later) .. blob", m)
		}
		if st := e.hash(KeyStats); st[StatDelayed+"later"] != "1" {
			t.Errorf("stats %v, want 1 delayed in later", st)
		}
	})
}

// TestDequeue: a dequeue moves tasks from the queue list to lease records of
// their bucket, counts a lease group, and drops a task whose key has an answer.
func TestDequeue(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.enqueue("q", 0, false, 3, "a", "b", "c", "done")
		e.runAnswer("setanswer", digestOf("done"), "160000:v", "60000")
		r := e.dequeue(2, 30000, "q")
		// {now, deadline, deduped, next, more, first token - 1, q, 2, blob, blob, epoch}
		// IDs and tokens come from one sequence: the tokens follow the four IDs.
		if len(r) != 11 || r[6] != "q" || num(t, r[7]) != 2 || num(t, r[5]) != 4 || r[10] != "e1" {
			t.Fatalf("reply %v", r)
		}
		deadline := num(t, r[1])
		if left := e.list(KeyQueue + "q"); len(left) != 2 {
			t.Fatalf("queue holds %d, want 2", len(left))
		}
		recs := e.hash(KeyRecords + "0")
		if len(recs) != 2 {
			t.Fatalf("lease records %v, want tokens 5 and 6", recs)
		}
		for tok, id := range map[string]string{"5": "1", "6": "2"} {
			rec := parseRecord(t, recs[tok])
			if rec.deadline != deadline || rec.single || rec.queue != "q" || parseBlob(t, rec.blob).id != id {
				t.Errorf("lease %s: %+v", tok, rec)
			}
		}
		group := fmt.Sprintf("%0*d@%d", Pad, 0, deadline)
		if g := e.hash(KeyLease); g[group] != "2" {
			t.Errorf("lease groups %v, want %s: 2", g, group)
		}
		if z := e.zset(KeyLeases); len(z) != 1 || z[0].Member != group || int64(z[0].Score) != deadline {
			t.Errorf("leases %v, want %s at %d", z, group, deadline)
		}
		if st := e.counts(); st["leased:q"] != 2 || st["delivered"] != 2 {
			t.Errorf("stats %v", st)
		}

		r = e.dequeue(5, 30000, "q")
		if num(t, r[2]) != 1 || num(t, r[7]) != 1 || parseBlob(t, r[8].(string)).id != "3" {
			t.Fatalf("second dequeue %v, want task 3 and one dropped", r)
		}
		if len(e.list(KeyQueue+"q")) != 0 || e.hash(KeyStats)["deduped"] != "1" {
			t.Errorf("queue %d left, stats %v", len(e.list(KeyQueue+"q")), e.hash(KeyStats))
		}
	})
}

// TestReclaim: reclaim puts an expired lease's task back at the head of its
// queue with its attempt counted, and dead-letters it once its attempts are used
// up; deadaction requeues and purges dead tasks.
func TestReclaimAndDeadAction(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.enqueue("q", 0, false, 2, "a")
		e.dequeue(1, 20, "q")
		e.pass(30 * time.Millisecond)
		if r := e.run("reclaim", ""); num(t, r[1]) != 1 || num(t, r[2]) != 0 {
			t.Fatalf("reclaim %v, want 1 reclaimed, none left", r)
		}
		list := e.list(KeyQueue + "q")
		if len(list) != 1 || parseBlob(t, list[0]).attempt != 1 {
			t.Fatalf("queue %q, want the task at attempt 1", list)
		}
		if len(e.hash(KeyRecords+"0")) != 0 || e.exists(KeyLease) || e.exists(KeyLeases) {
			t.Errorf("lease records %v, groups left", e.hash(KeyRecords+"0"))
		}
		if st := e.counts(); st["leased:q"] != 0 || st["reclaimed"] != 1 {
			t.Errorf("stats %v", st)
		}

		e.dequeue(1, 20, "q")
		e.pass(30 * time.Millisecond)
		e.run("reclaim", "")
		dead := e.hash(KeyDead)
		rec, ok := dead["1"]
		if !ok || len(e.list(KeyQueue+"q")) != 0 {
			t.Fatalf("dead %v, want task 1, its queue empty", dead)
		}
		head := packed("q", "lease expired")
		if rec[:len(head)] != head {
			t.Errorf("dead record %q, want it to start with %q", rec, head)
		}
		if z := e.zset(KeyDeadz); len(z) != 1 || z[0].Member != "1" {
			t.Errorf("deadz %v", z)
		}

		if r := e.run("deadaction", "requeue", "0", "e1-1", ""); num(t, r[1]) != 1 {
			t.Fatalf("requeue %v, want 1", r)
		}
		list = e.list(KeyQueue + "q")
		if len(list) != 1 || parseBlob(t, list[0]).attempt != 0 || len(e.hash(KeyDead)) != 0 {
			t.Fatalf("after requeue: queue %q, dead %v", list, e.hash(KeyDead))
		}
		if st := e.hash(KeyStats); st[StatDead+"q"] != "0" {
			t.Errorf("stats %v, want no dead task in q", st)
		}
		e.dequeue(1, 20, "q")
		e.pass(30 * time.Millisecond)
		e.run("reclaim", "")
		e.dequeue(1, 20, "q")
		e.pass(30 * time.Millisecond)
		e.run("reclaim", "")
		if r := e.run("deadaction", "purge", "1", ""); num(t, r[1]) != 1 {
			t.Fatalf("purge %v, want 1", r)
		}
		if e.exists(KeyDead) || e.exists(KeyDeadz) || len(e.list(KeyQueue+"q")) != 0 {
			t.Errorf("after purge: dead %v, queue %q", e.hash(KeyDead), e.list(KeyQueue+"q"))
		}
	})
}

// TestAnswers: setanswer stores an answer with its TTL, getanswer reads it and
// with refresh resets the TTL, delanswer deletes it.
func TestAnswers(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := digestOf("k")
		e.runAnswer("setanswer", d, "160000:value", "60000")
		k := e.key(KeyAnswer + d)
		if v, _ := e.c.Get(context.Background(), k).Result(); v != "160000:value" {
			t.Fatalf("answer %q", v)
		}
		e.pass(10 * time.Millisecond)
		r := e.runAnswer("getanswer", d, "0")
		if len(r) != 5 || r[1] != "value" || r[2] != "1" || r[3] != "60000" || num(t, r[4]) >= 60000 {
			t.Fatalf("getanswer %v", r)
		}
		r = e.runAnswer("getanswer", d, "1")
		if ttl, _ := e.c.PTTL(context.Background(), k).Result(); ttl < 59*time.Second || r[4] != "60000" {
			t.Errorf("refresh: %v, TTL %v", r, ttl)
		}
		if r := e.runAnswer("delanswer", d, ""); num(t, r[1]) != 1 || e.exists(KeyAnswer+d) {
			t.Errorf("delanswer %v", r)
		}
		if r := e.runAnswer("delanswer", d, ""); num(t, r[1]) != 0 {
			t.Errorf("delanswer of none %v", r)
		}
		if r := e.runAnswer("getanswer", d, "0"); len(r) != 1 {
			t.Errorf("getanswer of none %v", r)
		}
	})
}

// TestAllow: the limiter grants burst tokens at once, then asks to wait.
func TestAllow(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		k := []string{e.key(KeyLimiter + "l")}
		for i := range 3 {
			v, err := e.call("allow", false, k, "1000000", "2")
			if err != nil {
				t.Fatal(err)
			}
			if w := v.(int64); (i < 2) != (w == 0) {
				t.Errorf("call %d: wait %dµs", i, w)
			}
		}
		if ttl, _ := e.c.PTTL(context.Background(), k[0]).Result(); ttl <= 0 {
			t.Errorf("limiter TTL %v, want one", ttl)
		}
	})
}

// TestInspectionReadOnly: stats, peek, leases, dead and job run read-only
// (EVAL_RO, FCALL_RO, which refuse any write) and change no key, with a due
// delayed task and an expired lease that housekeeping has not reached. Stats
// counts both as waiting; the others show what stands.
func TestInspectionReadOnly(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		// Task 1 is dead, 3 tracked and leased past its deadline (token 4), 5
		// leased (token 6), 7 delayed and due, 8 waiting: IDs and tokens come from
		// one sequence. Task 3's lease and task 7's delay last gap, and the calls
		// after them must all run before it has passed, or their housekeeping
		// reclaims and promotes what the inspection must find as it is. On a real
		// server a busy machine may take longer than that: the setup is made
		// again in a fresh namespace with twice the gap.
		gap := 20 * time.Millisecond
		if e.mr == nil {
			gap = 200 * time.Millisecond
		}
		for {
			e.enqueue("q", 0, false, 1, "dead")
			e.dequeue(1, 20, "q")
			e.pass(30 * time.Millisecond)
			e.run("reclaim", "")
			e.runWith("enqueue", []string{e.key(KeyQueue + "q")}, "q", "0", "0", "0", "60000", pre("lapsed", 3, true), "x", "t", "e1", "")
			start := e.serverMS()
			e.dequeue(1, int(gap.Milliseconds()), "q")
			e.enqueue("q", 0, false, 3, "live")
			e.dequeue(1, 60000, "q")
			e.enqueue("q", int(gap.Milliseconds()), false, 3, "due")
			e.enqueue("q", 0, false, 3, "waiting")
			took := time.Duration(e.serverMS()-start) * time.Millisecond
			if e.mr != nil || took < gap {
				break
			}
			if gap >= 1600*time.Millisecond {
				t.Fatalf("the calls after the lapsing lease took %v, more than its %v: the machine is too busy for this test", took, gap)
			}
			t.Logf("the calls after the lapsing lease took %v, more than its %v: again with twice that", took, gap)
			gap *= 2
			e = e.fresh()
		}
		e.pass(gap + 10*time.Millisecond)

		before := e.snapshot()
		r := e.runRO("stats")
		// {now, counters, q, waiting, leased, delayed, dead, paused}
		if len(r) != 8 || r[2] != "q" || num(t, r[7]) != 0 {
			t.Fatalf("stats %v", r)
		}
		if w, l, d, x := num(t, r[3]), num(t, r[4]), num(t, r[5]), num(t, r[6]); w != 3 || l != 1 || d != 0 || x != 1 {
			t.Errorf("stats waiting %d leased %d delayed %d dead %d, want 3 1 0 1", w, l, d, x)
		}
		if c := list(t, r[1]); num(t, c[4]) != 1 {
			t.Errorf("counters %v, want 1 reclaimed", c)
		}
		if r := e.runROWith("peek", []string{e.key(KeyQueue + "q")}, "q", "0", "10"); len(r) != 3 || parseBlob(t, r[1].(string)).id != "8" {
			t.Errorf("peek %v, want task 8 alone", r)
		}
		if r := e.runRO("leases", "10"); len(r) != 5 || r[1] != "6" {
			t.Errorf("leases %v, want the live lease of task 5 alone", r)
		}
		if r := e.runRO("dead", "0", "10"); len(r) != 3 {
			t.Errorf("dead %v, want task 1", r)
		}
		if r := e.runRO("delayed", "", "0", "10"); len(r) != 2 {
			t.Errorf("delayed %v, want none: task 7 is due", r)
		}
		r = e.runROWith("job", []string{e.key(KeyJob + "3")}, "3", "e1")
		job := map[string]string{}
		for i := 1; i+1 < len(r); i += 2 {
			job[r[i].(string)] = r[i+1].(string)
		}
		if job["status"] != "running" || job["attempts"] != "1" {
			t.Errorf("job 3 %v, want running at 1: housekeeping has not reached it", job)
		}
		sameKeys(t, "inspection", before, e.snapshot())

		// What stats counted as waiting is what housekeeping then puts there.
		e.run("reclaim", "")
		if r := e.run("stats", "q"); num(t, r[3]) != 3 || num(t, r[4]) != 1 || num(t, r[5]) != 0 || num(t, r[6]) != 1 {
			t.Errorf("stats after housekeeping %v, want 3 1 0 1", r)
		}
	})
}

// idArg is a task ID as an ack passes it: one byte of its length, then the ID.
func idArg(id string) string { return string(rune(len(id))) + id }

// TestSettle: an ack with an answer writes the answer and removes the lease
// record and its group; releases go to the head, the tail or the delayed set; a
// release that uses up the attempts dead-letters; a lost token changes nothing.
func TestSettle(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		// Tasks 1..4, then tokens 5..8 for tasks 1..4 in order.
		e.enqueue("q", 0, false, 2, "a", "b", "c", "d")
		r := e.dequeue(4, 60000, "q")
		if num(t, r[5]) != 4 || num(t, r[7]) != 4 {
			t.Fatalf("dequeue %v, want tokens 5..8", r)
		}
		e.enqueue("q", 0, false, 2, "e") // task 9 waits in q
		// Ack token 5 (task 1) with an answer; release token 6 (task 2) to the
		// tail keeping the attempt, token 7 (task 3) to the head, token 8 (task 4)
		// delayed 5s; token 99 is lost.
		r = e.run("settle", "e1", "10",
			"0", "60000", "", "2", "5", idArg("1"), "160000:v", "99", idArg("1"), "",
			"6", "2", "r11", "0", "", "7", "3", "r00", "0", "oops", "8", "4", "r00", "5000", "", "")
		want := []int64{1, 0, 1, 1, 1}
		if len(r) != len(want) {
			t.Fatalf("settle %v, want %v", r, want)
		}
		for i, w := range want {
			if num(t, r[i]) != w {
				t.Fatalf("settle %v, want %v", r, want)
			}
		}
		if v := e.get(KeyAnswer + digestOf("a")); v != "160000:v" {
			t.Errorf("answer of a %q, want 160000:v", v)
		}
		if recs := e.hash(KeyRecords + "0"); len(recs) != 0 {
			t.Errorf("lease records %v, want none", recs)
		}
		if e.exists(KeyLease) || e.exists(KeyLeases) {
			t.Errorf("lease groups %v left", e.hash(KeyLease))
		}
		list := e.list(KeyQueue + "q")
		if len(list) != 3 {
			t.Fatalf("queue holds %d, want 3, 9, 2", len(list))
		}
		for i, w := range []struct {
			id      string
			attempt int
		}{{"3", 1}, {"9", 0}, {"2", 0}} {
			if b := parseBlob(t, list[i]); b.id != w.id || b.attempt != w.attempt {
				t.Errorf("queue[%d] %+v, want task %s at attempt %d", i, b, w.id, w.attempt)
			}
		}
		if z := e.zset(KeyDelayed); len(z) != 1 || int64(z[0].Score) < e.serverMS()+4000 {
			t.Errorf("delayed %v, want task 4 due in 5s", z)
		}
		st := e.counts()
		if st["leased:q"] != 0 || st["acked"] != 1 || st["released"] != 3 || st[StatDelayed+"q"] != 1 {
			t.Errorf("stats %v", st)
		}

		// Task 3 is at attempt 1 of 2: a release dead-letters it.
		r = e.dequeue(1, 60000, "q")
		tok := fmt.Sprint(num(t, r[5]) + 1)
		if r := e.run("settle", "e1", "0", tok, "3", "r00", "0", "boom", ""); num(t, r[0]) != 2 {
			t.Fatalf("release at max attempts %v, want 2 (dead)", r)
		}
		dead := e.hash(KeyDead)
		if rec, ok := dead["3"]; !ok || rec[:len(packed("q", "boom"))] != packed("q", "boom") {
			t.Errorf("dead %v, want task 3 dead of boom", dead)
		}

		before := e.snapshot()
		if r := e.run("settle", "e1", "0", tok, "3", "r00", "0", "", ""); num(t, r[0]) != 0 {
			t.Errorf("settle of a settled token %v, want 0", r)
		}
		if r := e.run("settle", "e2", "0", tok, "3", "d", "0", "", ""); r[0] != "lost" {
			t.Errorf("settle in another epoch %v, want {lost}", r)
		}
		sameKeys(t, "lost settles", before, e.snapshot())
	})
}

// TestExtend: extend moves a live lease's record to the new deadline, where a
// lease moved alone in its bucket is a single, and leaves a lost one alone.
func TestExtend(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.enqueue("q", 0, false, 3, "a", "b")
		r := e.dequeue(2, 30000, "q") // tokens 3 and 4
		old := num(t, r[1])
		r = e.run("extend", "e1", "90000", "3", "1", "77", "1", "")
		if len(r) != 3 || num(t, r[2]) != 0 {
			t.Fatalf("extend %v, want {now, deadline, 0}", r)
		}
		d := num(t, r[1])
		if d < old+59000 {
			t.Fatalf("new deadline %d, want about 60s past %d", d, old)
		}
		recs := e.hash(KeyRecords + "0")
		if rec := parseRecord(t, recs["3"]); rec.deadline != d || !rec.single || parseBlob(t, rec.blob).id != "1" {
			t.Errorf("lease 3 %+v, want a single at deadline %d", rec, d)
		}
		if rec := parseRecord(t, recs["4"]); rec.deadline != old || rec.single {
			t.Errorf("lease 4 %+v, want its deadline %d in its group", rec, old)
		}
		gOld, s3 := fmt.Sprintf("%0*d@%d", Pad, 0, old), fmt.Sprintf("%0*d!3", Pad, 0)
		if g := e.hash(KeyLease); len(g) != 1 || g[gOld] != "1" {
			t.Errorf("lease groups %v, want %s at 1", g, gOld)
		}
		if z := e.zset(KeyLeases); len(z) != 2 || z[1].Member != s3 || int64(z[1].Score) != d {
			t.Errorf("leases %v, want %s at %d", z, s3, d)
		}

		before := e.snapshot()
		if r := e.run("extend", "e1", "90000", "4", "9", ""); num(t, r[1]) != 0 {
			t.Errorf("extend with the wrong task ID %v, want 0", r)
		}
		if r := e.run("extend", "e2", "90000", "4", "2", ""); r[0] != "lost" {
			t.Errorf("extend in another epoch %v, want {lost}", r)
		}
		sameKeys(t, "lost extends", before, e.snapshot())
	})
}

// TestSingleLease: a lease that a dequeue puts alone in its bucket and deadline is
// a single: its record says so, and its member of the leases zset is its own,
// named by its token, with no group count. An extend of it alone moves its
// member; an extend of it with another lease of its bucket makes both a group's;
// a group's lease extended alone becomes a single; acks and releases remove what
// each kind holds, and listing shows each lease once.
func TestSingleLease(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		member := func(tok string) string { return fmt.Sprintf("%0*d!%s", Pad, 0, tok) }
		group := func(d int64) string { return fmt.Sprintf("%0*d@%d", Pad, 0, d) }
		// zsetIs checks the leases zset, member -> deadline, and the group counts.
		zsetIs := func(what string, members map[string]int64, counts map[string]string) {
			t.Helper()
			got := map[string]int64{}
			for _, z := range e.zset(KeyLeases) {
				got[z.Member.(string)] = int64(z.Score)
			}
			if !maps.Equal(got, members) {
				t.Errorf("%s: leases zset %v, want %v", what, got, members)
			}
			if g := e.hash(KeyLease); !maps.Equal(g, counts) {
				t.Errorf("%s: group counts %v, want %v", what, g, counts)
			}
		}
		e.enqueue("q", 0, false, 3, "a", "b", "c") // tasks 1..3
		r := e.dequeue(1, 30000, "q")              // token 4
		d := num(t, r[1])
		if rec := parseRecord(t, e.hash(KeyRecords + "0")["4"]); !rec.single || rec.deadline != d || parseBlob(t, rec.blob).id != "1" {
			t.Fatalf("lease 4 %+v, want a single at %d", rec, d)
		}
		zsetIs("a single dequeued", map[string]int64{member("4"): d}, map[string]string{})
		r = e.dequeue(2, 30000, "q") // tokens 5 and 6, a group
		d56 := num(t, r[1])
		zsetIs("a group dequeued", map[string]int64{member("4"): d, group(d56): d56}, map[string]string{group(d56): "2"})

		// Extending the single alone moves its member.
		r = e.run("extend", "e1", "60000", "4", "1", "")
		d4 := num(t, r[1])
		if rec := parseRecord(t, e.hash(KeyRecords + "0")["4"]); !rec.single || rec.deadline != d4 {
			t.Fatalf("lease 4 %+v, want a single at %d", rec, d4)
		}
		zsetIs("the single extended", map[string]int64{member("4"): d4, group(d56): d56}, map[string]string{group(d56): "2"})
		// The single and a group's lease extended together join a group.
		r = e.run("extend", "e1", "90000", "4", "1", "5", "2", "")
		d45 := num(t, r[1])
		if num(t, r[2]) != d45 {
			t.Fatalf("extend %v, want both at %d", r, d45)
		}
		for _, tok := range []string{"4", "5"} {
			if rec := parseRecord(t, e.hash(KeyRecords + "0")[tok]); rec.single || rec.deadline != d45 {
				t.Fatalf("lease %s %+v, want a group's at %d", tok, rec, d45)
			}
		}
		zsetIs("two extended together", map[string]int64{group(d45): d45, group(d56): d56},
			map[string]string{group(d45): "2", group(d56): "1"})
		// A group's lease extended alone becomes a single.
		r = e.run("extend", "e1", "120000", "6", "3", "")
		d6 := num(t, r[1])
		if rec := parseRecord(t, e.hash(KeyRecords + "0")["6"]); !rec.single || rec.deadline != d6 {
			t.Fatalf("lease 6 %+v, want a single at %d", rec, d6)
		}
		zsetIs("a group's lease extended alone", map[string]int64{group(d45): d45, member("6"): d6},
			map[string]string{group(d45): "2"})
		if l := e.runRO("leases", "10"); len(l) != 1+3*3+1 || l[1] != "4" || l[4] != "5" || l[7] != "6" {
			t.Fatalf("leases %v, want 4, 5 and 6 once each", l)
		}

		// Ack the single and a group's lease in one call, release the other.
		r = e.run("settle", "e1", "10",
			"0", "60000", "", "2", "6", idArg("3"), "", "4", idArg("1"), "",
			"5", "2", "r00", "0", "", "")
		if len(r) != 3 || num(t, r[0]) != 1 || num(t, r[1]) != 1 || num(t, r[2]) != 1 {
			t.Fatalf("settle %v, want {1, 1, 1}", r)
		}
		if len(e.hash(KeyRecords+"0")) != 0 || e.exists(KeyLease) || e.exists(KeyLeases) {
			t.Errorf("lease records %v, groups %v, leases %v left", e.hash(KeyRecords+"0"), e.hash(KeyLease), e.zset(KeyLeases))
		}
		if st := e.counts(); st["leased:q"] != 0 || st["acked"] != 2 || st["released"] != 1 {
			t.Errorf("stats %v", st)
		}
	})
}

// TestDueGate: housekeeping runs only once the state key due has come, so
// every event added earlier than it lowers it: a delayed task, a release with a
// delay and an extend to a shorter lease are each promoted or reclaimed on time
// while a later lease holds the field.
func TestDueGate(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		due := func() int64 {
			t.Helper()
			v, err := strconv.ParseInt(e.get(KeyDue), 10, 64)
			if err != nil {
				t.Fatalf("%s %q: no due time", KeyDue, e.get(KeyDue))
			}
			return v
		}
		e.enqueue("q", 0, false, 3, "a", "b") // tasks 1, 2
		r := e.dequeue(1, 60000, "q")         // token 3
		if d := num(t, r[1]); due() != d {
			t.Fatalf("due %d, want the lease's deadline %d", due(), d)
		}
		e.enqueue("q", 20, false, 3, "c") // task 4, due in 20ms
		if d := due(); d > e.serverMS()+21 {
			t.Fatalf("due %d after a delayed enqueue, want within 20ms", d)
		}
		e.pass(30 * time.Millisecond)
		// The delayed task goes to the head: it comes before task 2.
		if r := e.dequeue(1, 20, "q"); parseBlob(t, r[8].(string)).id != "4" {
			t.Fatalf("dequeue %v, want the promoted task 4", r)
		}
		e.pass(30 * time.Millisecond)
		// Task 4's 20ms lease (token 5) has expired: it is reclaimed to the head.
		if r := e.dequeue(1, 60000, "q"); parseBlob(t, r[8].(string)).id != "4" {
			t.Fatalf("dequeue %v, want the reclaimed task 4", r)
		}
		// Extending token 3 to 20ms brings its deadline before the other leases'.
		if r := e.run("extend", "e1", "20", "3", "1", ""); num(t, r[1]) == 0 {
			t.Fatalf("extend %v", r)
		}
		e.pass(30 * time.Millisecond)
		if r := e.dequeue(1, 60000, "q"); parseBlob(t, r[8].(string)).id != "1" {
			t.Fatalf("dequeue %v, want the reclaimed task 1", r)
		}
		// A release with a delay lowers the due time too: token 7 holds task 1.
		if r := e.run("settle", "e1", "0", "7", "1", "r01", "20", "", ""); num(t, r[0]) != 1 {
			t.Fatalf("release %v", r)
		}
		e.pass(30 * time.Millisecond)
		if r := e.dequeue(1, 60000, "q"); parseBlob(t, r[8].(string)).id != "1" {
			t.Fatalf("dequeue %v, want task 1 back from its delay", r)
		}
	})
}

// TestRequestEpoch: under a request key (KEYS[11]), which req_check reads with
// the epoch in one MGET, a settle in another epoch is lost, one in the current
// epoch is done, and a resend of it returns its first outcome; an enqueue into
// a namespace whose epoch key is gone stores a new one.
func TestRequestEpoch(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		withReq := func(req string, name string, args ...any) []any {
			t.Helper()
			keys := append(append([]string(nil), e.keys...), e.key(req))
			if name == "enqueue" {
				keys = append(keys, e.key(KeyQueue+args[0].(string)))
			}
			v, err := e.call(name, false, keys, args...)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return list(t, v)
		}
		e.enqueue("q", 0, false, 3, "a") // task 1
		e.dequeue(1, 60000, "q")         // token 2
		if r := withReq("i:1", "settle", "e2", "0", "2", "1", "r00", "0", "", "60000"); r[0] != "lost" {
			t.Fatalf("settle in another epoch %v, want {lost}", r)
		}
		for i := range 2 {
			if r := withReq("i:2", "settle", "e1", "0", "2", "1", "r00", "0", "", "60000"); num(t, r[0]) != 1 {
				t.Fatalf("settle %d in the current epoch %v, want 1", i, r)
			}
		}
		if err := e.c.Del(context.Background(), e.key(KeyEpoch)).Err(); err != nil {
			t.Fatal(err)
		}
		r := withReq("i:3", "enqueue", "q", "0", "0", "0", "0", pre("b", 3, false), "b", "e3", "60000")
		if len(r) != 3 || r[2] != "e3" || e.get(KeyEpoch) != "e3" {
			t.Fatalf("enqueue without an epoch %v, epoch %q, want e3", r, e.get(KeyEpoch))
		}
	})
}
