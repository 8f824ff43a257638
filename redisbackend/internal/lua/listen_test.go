package lua

import (
	"strconv"
	"testing"
	"time"
)

// TestListen: the scripts publish wake-ups only while the state key
// KeyListen lies ahead (scripts/common/begin.lua, Listeners). Without it an
// enqueue, a delayed enqueue, a lease, an extend, a promotion and a reclaim publish
// nothing; listen.lua sets it, after which they do; a renewal never moves it
// back and keeps its life; once it has lapsed nothing is published, and the
// next renewal starts a new life.
func TestListen(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		next := e.subscribe()
		e.enqueue("q", 0, false, 3, "a")   // task 1: waiting
		e.enqueue("q", 200, false, 3, "d") // task 2: delayed, the earliest event
		if r := e.dequeue(1, 100, "q"); len(r) != 10 {
			t.Fatalf("dequeue %v, want task 1", r)
		}
		// The lease moved to the earliest deadline of all: token 3, task 1.
		if r := e.run("extend", "e1", "50", "3", "1", ""); len(r) != 2 || num(t, r[1]) <= 0 {
			t.Fatalf("extend %v, want {now, deadline}", r)
		}
		e.pass(300 * time.Millisecond)
		e.dequeue(1, 60000, "other") // housekeeping: task 2 promoted, task 1 reclaimed
		if n := len(e.list(KeyQueue + "q")); n != 2 {
			t.Fatalf("q holds %d tasks after housekeeping, want 2", n)
		}
		e.mark(next) // none of them published

		life := func(ms, cand string) string {
			t.Helper()
			r := e.run("listen", ms, cand)
			if len(r) != 1 {
				t.Fatalf("listen %v, want the life alone", r)
			}
			return r[0].(string)
		}
		field := func() int64 {
			t.Helper()
			v, err := strconv.ParseInt(e.get(KeyListen), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", KeyListen, err)
			}
			return v
		}
		start := e.serverMS()
		if l := life("60000", "L1"); l != "L1" {
			t.Fatalf("the first renewal's life %q, want the new one, L1", l)
		}
		if f := field(); f < start+60000 {
			t.Fatalf("%s = %d, want at least %d", KeyListen, f, start+60000)
		}
		e.enqueue("q", 0, false, 3, "b") // task 3
		if m := next(); m != "1:q" {
			t.Fatalf("an enqueue while listened published %q, want 1:q", m)
		}
		e.enqueue("q", 100, false, 3, "e") // task 4: delayed, the earliest event
		if m := next(); m != MsgEvent+"100" {
			t.Fatalf("a delayed enqueue while listened published %q, want %s100", m, MsgEvent)
		}
		before := field()
		if l := life("10", "L2"); l != "L1" {
			t.Fatalf("a renewal of a live field: life %q, want L1", l)
		}
		if f := field(); f != before {
			t.Fatalf("a shorter renewal moved %s from %d to %d", KeyListen, before, f)
		}

		// Let it lapse: a short field, then its time passes.
		if err := e.c.Set(t.Context(), e.key(KeyListen), strconv.FormatInt(e.serverMS()+50, 10), 0).Err(); err != nil {
			t.Fatal(err)
		}
		e.pass(100 * time.Millisecond)
		e.enqueue("q", 0, false, 3, "c") // task 5; housekeeping promotes task 4
		e.mark(next)
		if l := life("60000", "L3"); l != "L3" {
			t.Fatalf("a renewal of a lapsed field: life %q, want a new one, L3", l)
		}
		// A lost life, with the time intact, starts a new one too.
		if err := e.c.Del(t.Context(), e.key(KeyListenLife)).Err(); err != nil {
			t.Fatal(err)
		}
		if l := life("60000", "L4"); l != "L4" {
			t.Fatalf("a renewal without a life: %q, want a new one, L4", l)
		}
	})
}
