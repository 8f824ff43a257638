package lua

import (
	"context"
	"strconv"
	"testing"
)

// TestStateFromStats: a namespace whose state a build before the state keys kept
// in the stats hash (StatIndexed, StatPaused, StatListen, StatListenLife) keeps
// it. A read-only call reads it there and writes nothing; the first call that
// housekeeps moves it to the state keys; a pause moves it before it writes.
func TestStateFromStats(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.enqueue("q1", 0, false, 3, "a", "b") // tasks 1, 2
		e.enqueue("q2", 0, false, 3, "c")      // task 3
		// Make it an older build's namespace: its state in the stats hash.
		wt := strconv.FormatInt(e.serverMS()+60000, 10)
		for _, k := range []string{KeyDue, KeyIndexed, KeyPaused, KeyListen, KeyListenLife} {
			if err := e.c.Del(ctx, e.key(k)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.c.HSet(ctx, e.key(KeyStats), StatIndexed, "1", StatPaused, packed("q1"),
			StatListen, wt, StatListenLife, "L0").Err(); err != nil {
			t.Fatal(err)
		}

		before := e.snapshot()
		r := e.runRO("stats")
		paused := map[string]int64{}
		for i := 2; i+5 < len(r); i += 6 {
			paused[r[i].(string)] = num(t, r[i+5])
		}
		if paused["q1"] != 1 || paused["q2"] != 0 {
			t.Errorf("stats %v, want q1 paused and q2 not", r)
		}
		sameKeys(t, "a read-only call", before, e.snapshot())

		// Subscribed, but not registered by listen.lua: only the field says that
		// someone listens. The dequeue housekeeps: it skips q1, publishes its
		// lease's event (the field lies ahead), and moves the fields.
		next := e.subscribe()
		if r := e.dequeue(5, 60000, "q1", "q2"); len(r) != 10 || r[6] != "q2" {
			t.Fatalf("dequeue %v, want task 3 of q2 alone", r)
		}
		if m := next(); m != MsgEvent+"60000" {
			t.Errorf("the lease published %q, want %s60000: the listener's time was not taken", m, MsgEvent)
		}
		want := map[string]string{KeyIndexed: "1", KeyPaused: packed("q1"), KeyListen: wt, KeyListenLife: "L0"}
		for k, v := range want {
			if got := e.get(k); got != v {
				t.Errorf("%s = %q after the move, want %q", k, got, v)
			}
		}
		st := e.hash(KeyStats)
		for _, f := range []string{StatIndexed, StatPaused, StatListen, StatListenLife} {
			if v, ok := st[f]; ok {
				t.Errorf("stats field %s = %q left after the move", f, v)
			}
		}

		// A pause that finds the fields moves them before it writes: resuming q1
		// leaves nothing paused, not the field's q1 again.
		if err := e.c.Del(ctx, e.key(KeyDue), e.key(KeyPaused)).Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.c.HSet(ctx, e.key(KeyStats), StatPaused, packed("q1")+packed("q2")).Err(); err != nil {
			t.Fatal(err)
		}
		if r := e.run("pause", "1", "q1", ""); num(t, r[1]) != 1 {
			t.Fatalf("resume of q1 %v, want 1 queue changed", r)
		}
		if r := e.dequeue(5, 60000, "q1", "q2"); len(r) != 11 || r[6] != "q1" {
			t.Fatalf("dequeue after the resume %v, want tasks 1 and 2 of q1 alone", r)
		}
		if ps := e.get(KeyPaused); ps != packed("q2") {
			t.Errorf("%s = %q, want q2 alone paused", KeyPaused, ps)
		}
	})
}
