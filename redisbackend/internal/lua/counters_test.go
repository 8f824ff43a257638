package lua

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestCountersPerQueue: enqueues, deliveries and acks are counted per queue
// (StatEnqueued), and stats.lua reports the namespace's counters as the fields
// older builds counted them in plus the queues' counts, and a queue's leased
// tasks as its StatLeased field plus its deliveries less its acks: a namespace
// of an older build, with leases live across the upgrade, reads on.
func TestCountersPerQueue(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if err := e.c.HSet(ctx, e.key(KeyStats), "enqueued", "10", "delivered", "7", "acked", "5",
			StatLeased+"q", "2").Err(); err != nil {
			t.Fatal(err)
		}
		e.enqueue("q", 0, false, 3, "a", "b", "c") // tasks 1..3
		e.enqueue("r", 0, false, 3, "d")           // task 4
		if r := e.dequeue(2, 60000, "q"); num(t, r[5]) != 4 {
			t.Fatalf("dequeue %v, want tokens 5 and 6", r)
		}
		// Ack token 5 (task 1): bucket 0, answer TTL, no job outcome, one lease.
		if r := e.run("settle", "e1", "7", "0", "60000", "", "1", "5", idArg("1"), "", ""); len(r) != 1 || num(t, r[0]) != 1 {
			t.Fatalf("ack %v, want it done", r)
		}
		qs, err := e.c.SMembers(ctx, e.key(KeyQueues)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if slices.Sort(qs); !slices.Equal(qs, []string{"q", "r"}) {
			t.Errorf("queues %q, want q and r", qs)
		}

		r := e.runRO("stats")
		c := list(t, r[1])
		if got := []int64{num(t, c[0]), num(t, c[1]), num(t, c[2])}; !slices.Equal(got, []int64{14, 9, 6}) {
			t.Errorf("enqueued, delivered, acked %v, want 14 9 6", got)
		}
		rows := map[string][2]int64{} // waiting, leased
		for i := 2; i+5 < len(r); i += 6 {
			rows[r[i].(string)] = [2]int64{num(t, r[i+1]), num(t, r[i+2])}
		}
		if rows["q"] != [2]int64{1, 3} || rows["r"] != [2]int64{1, 0} || len(rows) != 2 {
			t.Errorf("queues (waiting, leased) %v, want q 1 3 (2 from before, 2 delivered, 1 acked) and r 1 0", rows)
		}
		// Asked for one queue, the counters still sum every queue's.
		r = e.runRO("stats", "r")
		if c := list(t, r[1]); len(r) != 8 || num(t, c[0]) != 14 {
			t.Errorf("stats of r %v, want enqueued 14 and r's row alone", r)
		}
	})
}

// TestSettleBadAckGroups: a settle whose ack groups do not fit its ack arguments
// (a count past their end, a negative count, a bad TTL) is refused before it
// writes anything, even where the arguments that follow would fill the group.
func TestSettleBadAckGroups(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.enqueue("q", 0, false, 3, "a") // task 1
		if r := e.dequeue(1, 60000, "q"); num(t, r[5]) != 1 {
			t.Fatalf("dequeue %v, want token 2", r)
		}
		before := e.snapshot()
		for _, args := range [][]any{
			// A group of one lease in 4 ack arguments; a release's 5 follow.
			{"e1", "4", "0", "60000", "", "1", "2", idArg("1"), "", "0", "", ""},
			{"e1", "7", "0", "60000", "", "-1", "2", idArg("1"), "", ""},
			{"e1", "7", "0", "6e4", "", "1", "2", idArg("1"), "", ""},
		} {
			_, err := e.call("settle", false, append(append([]string(nil), e.keys...), e.keys[8]), args...)
			if err == nil || !strings.Contains(err.Error(), "bad ack group") {
				t.Errorf("settle %q: %v, want a bad ack group", args, err)
			}
		}
		sameKeys(t, "settles with bad ack groups", before, e.snapshot())
	})
}
