package conformance

import (
	"errors"
	"fmt"
	"slices"

	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S2.1 tasks come out in the order they were appended", fn: testFIFO},
		test{name: "S2.2 head enqueues come out first, last in first out", fn: testAtHead},
		test{name: "S2.3 a batch enqueue is all or nothing", fn: testBatchAtomic},
		test{name: "S2.3 a batch keeps its order", fn: testBatchOrder},
		test{name: "S2.3 concurrent batches stay all or nothing each, with their own IDs", fn: testConcurrentBatches},
		test{name: "S2.4 unique enqueue refuses a key with an answer", fn: testUniqueAnswered},
		test{name: "S2.4 unique enqueue refuses a key waiting, delayed or leased", fn: testUniqueQueued},
		test{name: "S2.4 unique enqueue accepts a key once its task is done", fn: testUniqueAfterDone},
		test{name: "S2.4 unique batch refuses a key twice", fn: testUniqueBatch},
	)
}

func testFIFO(e *env) {
	c := e.client()
	var want []string
	for i := range 100 {
		p := fmt.Sprintf("t%03d", i)
		want = append(want, p)
		e.enqueue(c, "q", p)
	}
	var got []string
	for len(got) < len(want) {
		ls, err := c.Dequeue(e.ctx, keyq.Batch(7))
		if err != nil || len(ls) == 0 {
			e.Fatalf("Dequeue after %d tasks: %d leases, %v", len(got), len(ls), err)
		}
		for i := range ls {
			got = append(got, string(ls[i].Payload))
			e.ack(c, &ls[i])
		}
	}
	if !slices.Equal(got, want) {
		e.Fatalf("order %v, want %v", got, want)
	}
}

func testAtHead(e *env) {
	c := e.client()
	e.enqueue(c, "q", "a")
	e.enqueue(c, "q", "b")
	e.enqueue(c, "q", "h1", keyq.AtHead())
	e.enqueue(c, "q", "h2", keyq.AtHead())
	if _, err := c.EnqueueBatch(e.ctx, "q", []keyq.Message{{Payload: []byte("h3")}, {Payload: []byte("h4")}}, keyq.AtHead()); err != nil {
		e.Fatal(err)
	}
	if got, want := e.drain(c), []string{"h4", "h3", "h2", "h1", "a", "b"}; !slices.Equal(got, want) {
		e.Fatalf("order %v, want %v (as LPUSH would give)", got, want)
	}
}

func testBatchAtomic(e *env) {
	c := e.client(keyq.MaxPayload(4))
	e.enqueue(c, "q", "k1", keyq.Key("taken"))
	batches := []struct {
		name string
		msgs []keyq.Message
		opts []keyq.EnqueueOption
		want error
	}{
		{"oversized payload", []keyq.Message{{Payload: []byte("a")}, {Payload: []byte("too long")}, {Payload: []byte("c")}}, nil, keyq.ErrInvalid},
		{"duplicate key", []keyq.Message{{Payload: []byte("a")}, {Payload: []byte("b"), Key: "taken"}}, []keyq.EnqueueOption{keyq.Unique()}, keyq.ErrDuplicate},
	}
	for _, b := range batches {
		ids, err := c.EnqueueBatch(e.ctx, "q", b.msgs, b.opts...)
		if !errors.Is(err, b.want) || ids != nil {
			e.Fatalf("%s: EnqueueBatch = %v, %v; want no IDs and %v", b.name, ids, err, b.want)
		}
		if st := e.stats(c); st.Queues["q"].Waiting != 1 || st.Counters.Enqueued != 1 {
			e.Fatalf("%s: a failed batch left %+v", b.name, st)
		}
	}
}

func testBatchOrder(e *env) {
	c := e.client()
	var msgs []keyq.Message
	for i := range 20 {
		msgs = append(msgs, keyq.Message{Payload: fmt.Appendf(nil, "m%02d", i), Type: "t", Key: fmt.Sprint("k", i)})
	}
	ids, err := c.EnqueueBatch(e.ctx, "q", msgs)
	if err != nil || len(ids) != len(msgs) {
		e.Fatalf("EnqueueBatch = %v, %v", ids, err)
	}
	for i := range msgs {
		l := e.next(c)
		if l.ID != ids[i] || string(l.Payload) != string(msgs[i].Payload) || l.Key != msgs[i].Key || l.Type != "t" {
			e.Fatalf("task %d: got ID %s %q key %q, want ID %s %q key %q", i, l.ID, l.Payload, l.Key, ids[i], msgs[i].Payload, msgs[i].Key)
		}
	}
}

// testConcurrentBatches: batches enqueued at once from many goroutines through
// one client (which may send them to the backend together) each get the IDs of
// their own tasks, in order, and a bad batch among them fails alone.
func testConcurrentBatches(e *env) {
	c := e.client()
	const callers, per = 16, 3
	type result struct {
		caller int
		ids    []string
		err    error
	}
	results := make(chan result, callers+1)
	for g := range callers {
		go func() {
			msgs := make([]keyq.Message, per)
			for i := range msgs {
				msgs[i].Payload = fmt.Appendf(nil, "g%02d-%d", g, i)
			}
			ids, err := c.EnqueueBatch(e.ctx, "q", msgs)
			results <- result{g, ids, err}
		}()
	}
	go func() { // invalid: nothing of it may be queued, nor fail the others
		_, err := c.EnqueueBatch(e.ctx, "q", []keyq.Message{{Payload: []byte("bad")}}, keyq.MaxAttempts(0))
		results <- result{-1, nil, err}
	}()
	want := map[string]string{} // task ID -> payload
	for range callers + 1 {
		r := <-results
		if r.caller < 0 {
			if !errors.Is(r.err, keyq.ErrInvalid) {
				e.Errorf("the bad batch: %v, want ErrInvalid", r.err)
			}
			continue
		}
		if r.err != nil || len(r.ids) != per {
			e.Fatalf("caller %d: IDs %v, %v", r.caller, r.ids, r.err)
		}
		for i, id := range r.ids {
			want[id] = fmt.Sprintf("g%02d-%d", r.caller, i)
		}
	}
	next := map[int]int{} // caller -> the index of its next task in the queue
	for n := 0; n < callers*per; n++ {
		l := e.next(c)
		if p, ok := want[l.ID]; !ok || p != string(l.Payload) {
			e.Fatalf("task %s %q: its enqueue returned %q for that ID", l.ID, l.Payload, p)
		}
		delete(want, l.ID)
		var g, i int
		fmt.Sscanf(string(l.Payload), "g%d-%d", &g, &i)
		if i != next[g] {
			e.Fatalf("caller %d's task %d came before its task %d", g, i, next[g])
		}
		next[g]++
		e.ack(c, l)
	}
	if rest := e.drain(c); len(rest) != 0 {
		e.Fatalf("left in the queue: %q, want nothing (the bad batch queued nothing)", rest)
	}
}

func (e *env) wantDuplicate(c *keyq.Client, payload string, opts ...keyq.EnqueueOption) {
	e.Helper()
	before := e.stats(c)
	_, err := c.Enqueue(e.ctx, "q", []byte(payload), append(opts, keyq.Unique())...)
	if !errors.Is(err, keyq.ErrDuplicate) {
		e.Fatalf("unique Enqueue(%q): %v, want ErrDuplicate", payload, err)
	}
	if after := e.stats(c); after.Counters.Enqueued != before.Counters.Enqueued || after.Queues["q"] != before.Queues["q"] {
		e.Fatalf("a refused enqueue changed the namespace: %+v, was %+v", after, before)
	}
}

func testUniqueAnswered(e *env) {
	c := e.client()
	if err := c.SetAnswer(e.ctx, "k", "v"); err != nil {
		e.Fatal(err)
	}
	e.wantDuplicate(c, "k")
	e.wantDuplicate(c, "other payload", keyq.Key("k"))
	if err := c.SetErrorAnswer(e.ctx, "k2", "failed"); err != nil {
		e.Fatal(err)
	}
	e.wantDuplicate(c, "k2")
	e.enqueue(c, "q", "fresh", keyq.Unique())
}

func testUniqueQueued(e *env) {
	c := e.client()
	e.enqueue(c, "q", "waiting")
	e.wantDuplicate(c, "waiting")
	e.enqueue(c, "q", "later", keyq.Delay(e.u(5)))
	e.wantDuplicate(c, "later")
	e.enqueue(c, "q", "leased", keyq.AtHead())
	l := e.nextPayload(c, "leased")
	e.wantDuplicate(c, "x", keyq.Key("leased"))
	e.release(c, l) // back to waiting: still taken
	e.wantDuplicate(c, "leased")
}

func testUniqueAfterDone(e *env) {
	c := e.client(keyq.MaxAttempts(1))
	e.enqueue(c, "q", "acked")
	e.ack(c, e.next(c)) // no answer stored
	e.enqueue(c, "q", "acked", keyq.Unique())
	e.ack(c, e.next(c))
	e.enqueue(c, "q", "dead")
	e.release(c, e.next(c)) // one attempt only: dead-lettered
	e.enqueue(c, "q", "dead", keyq.Unique())
	if st := e.queueStats(c, "q"); st.Waiting != 1 || st.Dead != 1 {
		e.Fatalf("stats %+v, want one waiting and one dead", st)
	}
	e.ack(c, e.nextPayload(c, "dead"))
	if n, err := c.RequeueAllDead(e.ctx); err != nil || n != 1 {
		e.Fatalf("RequeueAllDead = %d, %v; want 1", n, err)
	}
	e.wantDuplicate(c, "dead") // queued again: its key is taken again
	e.ack(c, e.next(c))
	if err := c.SetAnswer(e.ctx, "cached", 1); err != nil {
		e.Fatal(err)
	}
	e.enqueue(c, "q", "cached")
	e.none(c) // dropped by dedupe: its key is free once the answer goes
	if err := c.DeleteAnswer(e.ctx, "cached"); err != nil {
		e.Fatal(err)
	}
	e.enqueue(c, "q", "cached", keyq.Unique())
}

func testUniqueBatch(e *env) {
	c := e.client()
	_, err := c.EnqueueBatch(e.ctx, "q", []keyq.Message{{Payload: []byte("a")}, {Payload: []byte("b")}, {Payload: []byte("a")}}, keyq.Unique())
	e.wantErr("unique batch with a repeated key", err, keyq.ErrDuplicate)
	if n, _ := c.Len(e.ctx, "q"); n != 0 {
		e.Fatalf("Len = %d after a refused batch", n)
	}
	if _, err := c.EnqueueBatch(e.ctx, "q", []keyq.Message{{Payload: []byte("a")}, {Payload: []byte("a")}}); err != nil {
		e.Fatalf("a plain batch may repeat a key: %v", err)
	}
}
