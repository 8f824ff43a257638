package conformance

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S1.1 payload bytes come out as they went in", fn: testPayloadBytes},
		test{name: "S1.2 key defaults to the payload", fn: testKeyDefault},
		test{name: "S1.2 key set by the producer", fn: testKeySet},
		test{name: "S1.3 every enqueue gets a fresh ID", fn: testFreshIDs},
		test{name: "S1.4 type, attempt, time and headers come back", fn: testTaskMetadata},
		test{name: "S1.5 bad input is ErrInvalid and changes nothing", fn: testInvalidInput},
		test{name: "S1.5 names with braces, colons and spaces work", fn: testOddNames},
	)
}

func testPayloadBytes(e *env) {
	c := e.client()
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	payloads := [][]byte{{}, {0}, {0xff, 0xfe, 0x00, 0x80}, []byte("\xc3\x28 invalid utf-8"), []byte("plain"), big}
	for _, p := range payloads {
		src := bytes.Clone(p)
		if _, err := c.Enqueue(e.ctx, "q", src); err != nil {
			e.Fatalf("Enqueue(%d bytes): %v", len(p), err)
		}
		for i := range src { // the caller may reuse its buffer
			src[i] ^= 0x55
		}
	}
	for i, want := range payloads {
		l := e.next(c)
		if !bytes.Equal(l.Payload, want) {
			e.Fatalf("payload %d: got %d bytes %.16q, want %d bytes %.16q", i, len(l.Payload), l.Payload, len(want), want)
		}
		for j := range l.Payload { // scribbling on a delivered payload changes nothing stored
			l.Payload[j] ^= 0x55
		}
		e.release(c, l, keyq.ToTail())
	}
	for i, want := range payloads {
		if l := e.next(c); !bytes.Equal(l.Payload, want) {
			e.Fatalf("payload %d after release: got %d bytes, want %d", i, len(l.Payload), len(want))
		}
	}
}

func testKeyDefault(e *env) {
	c := e.client()
	e.enqueue(c, "q", "payload-as-key")
	l := e.next(c)
	if l.Key != "payload-as-key" {
		e.Fatalf("Key = %q, want the payload", l.Key)
	}
	e.ack(c, l, keyq.WithAnswer("done"))
	var got string
	a, err := c.Answer(e.ctx, "payload-as-key")
	if err != nil {
		e.Fatalf("Answer under the payload: %v", err)
	}
	if err := a.Decode(&got); err != nil || got != "done" {
		e.Fatalf("answer %q (%v), want \"done\"", a.Value, err)
	}
}

func testKeySet(e *env) {
	c := e.client()
	e.enqueue(c, "q", "payload", keyq.Key("my-key"))
	l := e.next(c)
	if l.Key != "my-key" || string(l.Payload) != "payload" {
		e.Fatalf("Key %q payload %q, want my-key and payload", l.Key, l.Payload)
	}
	e.ack(c, l, keyq.WithAnswer(1))
	if ok, err := c.Exists(e.ctx, "my-key"); err != nil || !ok {
		e.Fatalf("Exists(my-key) = %v, %v; want the answer under the key", ok, err)
	}
	if ok, err := c.Exists(e.ctx, "payload"); err != nil || ok {
		e.Fatalf("Exists(payload) = %v, %v; want no answer under the payload", ok, err)
	}
}

func testFreshIDs(e *env) {
	c := e.client()
	ids := map[string]bool{}
	for range 3 {
		id := e.enqueue(c, "q", "same")
		if id == "" || ids[id] {
			e.Fatalf("Enqueue returned ID %q, seen before or empty", id)
		}
		ids[id] = true
	}
	for range 3 {
		l := e.next(c)
		if !ids[l.ID] || l.Key != "same" {
			e.Fatalf("delivered ID %q key %q, want one of %v with key \"same\"", l.ID, l.Key, ids)
		}
		delete(ids, l.ID)
		e.ack(c, l)
	}
}

func testTaskMetadata(e *env) {
	c := e.client()
	before := e.tg.Now()
	id := e.enqueue(c, "q", "p", keyq.Type("send-mail"), keyq.Header("trace", "abc"), keyq.Header("empty", ""))
	after := e.tg.Now()
	l := e.next(c)
	want := keyq.Task{
		ID: id, Queue: "q", Type: "send-mail", Key: "p", Payload: []byte("p"),
		Headers: map[string]string{"trace": "abc", "empty": ""}, Attempt: 0, MaxAttempts: keyq.DefaultMaxAttempts,
		EnqueuedAt: l.EnqueuedAt,
	}
	if diff := cmp.Diff(want, l.Task); diff != "" {
		e.Fatalf("delivered task (-want +got):\n%s", diff)
	}
	slack := e.u(0.5)
	if l.EnqueuedAt.Before(before.Add(-slack)) || l.EnqueuedAt.After(after.Add(slack)) {
		e.Fatalf("EnqueuedAt %v, want between %v and %v on the backend's clock", l.EnqueuedAt, before, after)
	}
	e.release(c, l)
	if l = e.next(c); l.Attempt != 1 || l.Type != "send-mail" || l.Headers["trace"] != "abc" {
		e.Fatalf("after release: attempt %d type %q headers %v", l.Attempt, l.Type, l.Headers)
	}
	e.enqueue(c, "q", "bare")
	e.ack(c, l)
	if l = e.next(c); l.Headers != nil || l.Type != "" {
		e.Fatalf("task without type and headers came back with %q, %v", l.Type, l.Headers)
	}
}

func testInvalidInput(e *env) {
	c := e.client(keyq.WithMaxPayload(8))
	var nilCtx context.Context
	lease := &keyq.Lease{Task: keyq.Task{ID: "1"}, Token: "1"}
	cases := []struct {
		name string
		call func() error
	}{
		{"empty namespace", func() error { _, err := keyq.New(e.tg.Backend, ""); return err }},
		{"empty queue name", func() error { _, err := c.Enqueue(e.ctx, "", []byte("x")); return err }},
		{"empty queue in WithQueues", func() error { _, err := keyq.New(e.tg.Backend, e.ns, keyq.WithQueues("a", "")); return err }},
		{"empty queue in From", func() error { _, err := c.Next(e.ctx, keyq.From("")); return err }},
		{"payload over the maximum", func() error { _, err := c.Enqueue(e.ctx, "q", []byte("123456789")); return err }},
		{"payload over the maximum in a batch", func() error {
			_, err := c.EnqueueBatch(e.ctx, "q", []keyq.Message{{Payload: []byte("ok")}, {Payload: []byte("123456789")}})
			return err
		}},
		{"empty batch", func() error { _, err := c.EnqueueBatch(e.ctx, "q", nil); return err }},
		{"negative delay", func() error { _, err := c.Enqueue(e.ctx, "q", []byte("x"), keyq.Delay(-1)); return err }},
		{"negative wait", func() error { _, err := c.Next(e.ctx, keyq.Wait(-1)); return err }},
		{"negative lease", func() error { _, err := c.Next(e.ctx, keyq.LeaseFor(-1)); return err }},
		{"zero lease", func() error { _, err := c.Next(e.ctx, keyq.LeaseFor(0)); return err }},
		{"negative release delay", func() error { return c.Release(e.ctx, lease, keyq.After(-1)) }},
		{"negative extension", func() error { return c.Extend(e.ctx, lease, -1) }},
		{"negative lease option", func() error { _, err := keyq.New(e.tg.Backend, e.ns, keyq.WithLease(-1)); return err }},
		{"negative answer TTL", func() error {
			_, err := keyq.New(e.tg.Backend, e.ns, keyq.WithAnswerTTL(-1, 1))
			return err
		}},
		{"negative op timeout", func() error { _, err := keyq.New(e.tg.Backend, e.ns, keyq.WithOpTimeout(-1)); return err }},
		{"zero max attempts", func() error { _, err := c.Enqueue(e.ctx, "q", []byte("x"), keyq.MaxAttempts(0)); return err }},
		{"zero batch size", func() error { _, err := c.Dequeue(e.ctx, keyq.Batch(0)); return err }},
		{"negative batch size", func() error { _, err := c.Dequeue(e.ctx, keyq.Batch(-3)); return err }},
		{"nil lease", func() error { return c.Ack(e.ctx, nil) }},
		{"lease without token", func() error { return c.Ack(e.ctx, &keyq.Lease{Task: keyq.Task{ID: "1"}}) }},
		{"answer that is not JSON", func() error { return c.SetAnswer(e.ctx, "k", func() {}) }},
		{"negative peek offset", func() error { _, err := c.Peek(e.ctx, "q", -1, 1); return err }},
		{"zero peek count", func() error { _, err := c.Peek(e.ctx, "q", 0, 0); return err }},
		{"no dead IDs", func() error { _, err := c.PurgeDead(e.ctx); return err }},
		{"nil context: enqueue", func() error { _, err := c.Enqueue(nilCtx, "q", []byte("x")); return err }},
		{"nil context: dequeue", func() error { _, err := c.Next(nilCtx); return err }},
		{"nil context: ack", func() error { return c.Ack(nilCtx, lease) }},
		{"nil context: release", func() error { return c.Release(nilCtx, lease) }},
		{"nil context: extend", func() error { return c.Extend(nilCtx, lease, 1) }},
		{"nil context: answer", func() error { _, err := c.Answer(nilCtx, "k"); return err }},
		{"nil context: set answer", func() error { return c.SetAnswer(nilCtx, "k", 1) }},
		{"nil context: stats", func() error { _, err := c.Stats(nilCtx); return err }},
		{"nil context: job", func() error { _, err := c.Job(nilCtx, "1"); return err }},
	}
	for _, tc := range cases {
		e.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if errors.Is(err, errors.ErrUnsupported) {
				t.Skipf("optional: the call needs a capability the driver lacks: %v", err)
			}
			if !errors.Is(err, keyq.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
		})
	}
	st := e.stats(c)
	if st.Counters != (keyq.Counters{}) || st.Queues["q"] != (keyq.QueueStats{}) {
		e.Fatalf("bad calls changed the namespace: %+v", st)
	}
	if _, err := c.Answer(e.ctx, "k"); !errors.Is(err, keyq.ErrNotFound) {
		e.Fatalf("a refused SetAnswer stored something: %v", err)
	}
	e.enqueue(c, "q", "12345678") // exactly the maximum is fine
	e.nextPayload(c, "12345678")
}

func testOddNames(e *env) {
	names := []string{"a{b}:c d", "{", "}", "}{", "x:y", " ", "{{}}", "\x00\xff", "%", "%7B", "%7D", "{%}"}
	for _, ns := range names {
		for _, q := range names {
			c := e.clientOf(e.ns+ns, keyq.WithQueues(q))
			e.enqueue(c, q, "in "+ns+"/"+q)
		}
	}
	for _, ns := range names {
		for _, q := range names {
			c := e.clientOf(e.ns+ns, keyq.WithQueues(q))
			if n, err := c.Len(e.ctx, q); err != nil || n != 1 {
				e.Fatalf("Len of %q/%q = %d, %v; want 1", ns, q, n, err)
			}
			e.nextPayload(c, "in "+ns+"/"+q)
			e.none(c)
			key := strings.Repeat(ns, 3) + "|" + q
			e.enqueue(c, q, "x", keyq.Key(key))
			l := e.next(c)
			e.ack(c, l, keyq.WithAnswer(ns+q))
			if ok, err := c.Exists(e.ctx, key); err != nil || !ok {
				e.Fatalf("answer in %q/%q: %v %v", ns, q, ok, err)
			}
		}
	}
}
