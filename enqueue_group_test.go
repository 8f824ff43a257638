package keyq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
)

// countingNS is a memory namespace that records every Enqueue call and can hold
// the next one until the test lets it go.
type countingNS struct {
	backend.Namespace

	mu    sync.Mutex
	calls []backend.EnqueueParams
	hold  *gate
	fail  error // the next call fails with it without enqueuing; ErrNotReplicated enqueues
}

// gate holds one Enqueue call: entered is closed when the call arrives, release
// lets it go on, and ctxErr gets the call's ctx error if its ctx ends first.
type gate struct {
	entered, release chan struct{}
	ctxErr           chan error
}

type countingBackend struct {
	backend.Backend
	ns *countingNS
}

func (b countingBackend) Namespace(name string) (backend.Namespace, error) {
	h, err := b.Backend.Namespace(name)
	b.ns.Namespace = h
	return b.ns, err
}

// holdNext makes the next Enqueue call wait for the gate's release.
func (n *countingNS) holdNext() *gate {
	g := &gate{make(chan struct{}), make(chan struct{}), make(chan error, 1)}
	n.mu.Lock()
	n.hold = g
	n.mu.Unlock()
	return g
}

func (n *countingNS) Enqueue(ctx context.Context, p backend.EnqueueParams) ([]string, error) {
	n.mu.Lock()
	n.calls = append(n.calls, p)
	g, fail := n.hold, n.fail
	n.hold, n.fail = nil, nil
	n.mu.Unlock()
	if g != nil {
		close(g.entered)
		select {
		case <-g.release:
		case <-ctx.Done():
			g.ctxErr <- ctx.Err()
			return nil, backend.CtxErr(ctx)
		}
	}
	if fail != nil && !errors.Is(fail, ErrNotReplicated) {
		return nil, fail
	}
	ids, err := n.Namespace.Enqueue(ctx, p)
	if err == nil && fail != nil {
		err = fail
	}
	return ids, err
}

func (n *countingNS) callCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.calls)
}

func groupClient(t *testing.T, opts ...Option) (*Client, *countingNS) {
	t.Helper()
	b := memory.New()
	t.Cleanup(func() { b.Close() })
	ns := &countingNS{}
	c, err := New(countingBackend{b, ns}, "ns", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, ns
}

// waitFor fails the test unless ch is closed or sends within waitBound.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitBound):
		t.Fatalf("%s: nothing within %v", what, waitBound)
		panic("unreachable")
	}
}

// waitGathered waits until the call gathering in group k has n callers.
func waitGathered(t *testing.T, c *Client, k groupKey, n int) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		c.groups.mu.Lock()
		got := 0
		if g := c.groups.m[k]; g != nil && g.next != nil {
			got = len(g.next.members)
		}
		c.groups.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers gathered in %+v after %v, want %d", got, k, waitBound, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// outcome is what one enqueue returned.
type outcome struct {
	ids []string
	err error
}

// goEnqueue runs EnqueueBatch of payloads in a goroutine.
func goEnqueue(ctx context.Context, c *Client, queue string, payloads []string, opts ...EnqueueOption) <-chan outcome {
	ch := make(chan outcome, 1)
	msgs := make([]Message, len(payloads))
	for i, p := range payloads {
		msgs[i] = Message{Payload: []byte(p)}
	}
	go func() {
		ids, err := c.EnqueueBatch(ctx, queue, msgs, opts...)
		ch <- outcome{ids, err}
	}()
	return ch
}

// startHeld starts a one-task enqueue of payload to queue and waits until its
// driver call is held at a gate.
func startHeld(t *testing.T, c *Client, ns *countingNS, queue, payload string, opts ...EnqueueOption) (*gate, <-chan outcome) {
	t.Helper()
	g := ns.holdNext()
	ch := goEnqueue(context.Background(), c, queue, []string{payload}, opts...)
	waitFor(t, g.entered, "the first enqueue reaching the driver")
	return g, ch
}

// queued takes every task waiting in queue and returns their payloads by ID, in
// queue order, failing on a payload seen twice.
func queued(t *testing.T, ns *countingNS, queue string) (ids, payloads []string) {
	t.Helper()
	r, err := ns.Namespace.Dequeue(context.Background(), backend.DequeueParams{Queues: []string{queue}, Count: backend.MaxCount, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Leases {
		if slices.Contains(payloads, string(l.Payload)) {
			t.Errorf("payload %q queued twice", l.Payload)
		}
		ids, payloads = append(ids, l.ID), append(payloads, string(l.Payload))
	}
	return ids, payloads
}

// checkQueued checks that queue holds exactly the tasks of want (ID to payload).
func checkQueued(t *testing.T, ns *countingNS, queue string, want map[string]string) {
	t.Helper()
	ids, payloads := queued(t, ns, queue)
	if len(ids) != len(want) {
		t.Errorf("%d tasks queued, want %d", len(ids), len(want))
	}
	for i, id := range ids {
		if p, ok := want[id]; !ok || p != payloads[i] {
			t.Errorf("task %s has payload %q, want %q (known: %v)", id, payloads[i], p, ok)
		}
	}
}

// TestEnqueueGroupCoalesces checks that 64 concurrent one-task enqueues take
// fewer than 64 driver calls, and that each caller gets a distinct ID that is its
// own task's.
func TestEnqueueGroupCoalesces(t *testing.T) {
	c, ns := groupClient(t)
	g, first := startHeld(t, c, ns, "q", "p0")
	chs := []<-chan outcome{first}
	for i := 1; i < 64; i++ {
		chs = append(chs, goEnqueue(context.Background(), c, "q", []string{fmt.Sprint("p", i)}))
	}
	waitGathered(t, c, groupKey{queue: "q"}, 63)
	close(g.release)
	want := map[string]string{}
	for i, ch := range chs {
		o := waitFor(t, ch, "an enqueue")
		if o.err != nil || len(o.ids) != 1 {
			t.Fatalf("enqueue %d: %v, %v", i, o.ids, o.err)
		}
		if _, dup := want[o.ids[0]]; dup {
			t.Fatalf("ID %s returned twice", o.ids[0])
		}
		want[o.ids[0]] = fmt.Sprint("p", i)
	}
	if n := ns.callCount(); n >= 64 {
		t.Errorf("%d driver Enqueue calls for 64 concurrent enqueues, want fewer", n)
	}
	checkQueued(t, ns, "q", want)
}

// TestEnqueueGroupFree runs 64 goroutines enqueueing batches of 1 to 5 tasks at
// once, as they come, and checks every task is queued once under its own ID.
func TestEnqueueGroupFree(t *testing.T) {
	c, ns := groupClient(t)
	var chs []<-chan outcome
	var sent [][]string
	for i := range 64 {
		var ps []string
		for j := range i%5 + 1 {
			ps = append(ps, fmt.Sprintf("p%d-%d", i, j))
		}
		sent = append(sent, ps)
		chs = append(chs, goEnqueue(context.Background(), c, "q", ps))
	}
	want := map[string]string{}
	for i, ch := range chs {
		o := waitFor(t, ch, "an enqueue")
		if o.err != nil || len(o.ids) != len(sent[i]) {
			t.Fatalf("enqueue %d: %v, %v", i, o.ids, o.err)
		}
		for j, id := range o.ids {
			if _, dup := want[id]; dup {
				t.Fatalf("ID %s returned twice", id)
			}
			want[id] = sent[i][j]
		}
	}
	checkQueued(t, ns, "q", want)
	t.Logf("%d driver calls", ns.callCount())
}

// TestEnqueueGroupBadCallerFailsAlone checks that invalid callers fail at once,
// without waiting for the call in flight, and that the callers they would have
// joined succeed.
func TestEnqueueGroupBadCallerFailsAlone(t *testing.T) {
	c, ns := groupClient(t, MaxPayload(8))
	g, first := startHeld(t, c, ns, "q", "p0")
	good1 := goEnqueue(context.Background(), c, "q", []string{"good1"})
	tooBig := goEnqueue(context.Background(), c, "q", []string{"good", "over8bytes"})
	noAttempts := goEnqueue(context.Background(), c, "q", []string{"x"}, MaxAttempts(0))
	good2 := goEnqueue(context.Background(), c, "q", []string{"good2", "good3"})
	for name, ch := range map[string]<-chan outcome{"too big": tooBig, "max attempts 0": noAttempts} {
		if o := waitFor(t, ch, name); !errors.Is(o.err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, o.err)
		}
	}
	waitGathered(t, c, groupKey{queue: "q"}, 2)
	close(g.release)
	want := map[string]string{}
	for i, ch := range []<-chan outcome{first, good1, good2} {
		o := waitFor(t, ch, "a good enqueue")
		if o.err != nil {
			t.Fatalf("good enqueue %d: %v", i, o.err)
		}
		for j, id := range o.ids {
			want[id] = [][]string{{"p0"}, {"good1"}, {"good2", "good3"}}[i][j]
		}
	}
	checkQueued(t, ns, "q", want)
}

// TestEnqueueGroupLeaveWhileGathering checks that a caller whose ctx ends before
// its combined call starts returns its ctx error and is not enqueued, and that
// the others of its call are.
func TestEnqueueGroupLeaveWhileGathering(t *testing.T) {
	c, ns := groupClient(t)
	g, first := startHeld(t, c, ns, "q", "p0")
	ctx, cancel := context.WithCancel(context.Background())
	leaver := goEnqueue(ctx, c, "q", []string{"leaver"})
	waitGathered(t, c, groupKey{queue: "q"}, 1)
	stayer := goEnqueue(context.Background(), c, "q", []string{"stayer"})
	waitGathered(t, c, groupKey{queue: "q"}, 2)
	cancel()
	if o := waitFor(t, leaver, "the cancelled enqueue"); !errors.Is(o.err, context.Canceled) || o.ids != nil {
		t.Fatalf("cancelled enqueue: %v, %v, want context.Canceled", o.ids, o.err)
	}
	waitGathered(t, c, groupKey{queue: "q"}, 1)
	close(g.release)
	want := map[string]string{}
	for i, ch := range []<-chan outcome{first, stayer} {
		o := waitFor(t, ch, "an enqueue")
		if o.err != nil {
			t.Fatal(o.err)
		}
		want[o.ids[0]] = []string{"p0", "stayer"}[i]
	}
	checkQueued(t, ns, "q", want)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if last := ns.calls[len(ns.calls)-1]; len(last.Tasks) != 1 || string(last.Tasks[0].Payload) != "stayer" {
		t.Errorf("the combined call carried %d tasks, want only the stayer's", len(last.Tasks))
	}
}

// TestEnqueueGroupLeaveInFlight checks that a caller whose ctx ends while its
// combined call is in flight returns at once with its ctx error while the call
// goes on for the others, and that the call's ctx ends once every caller left.
func TestEnqueueGroupLeaveInFlight(t *testing.T) {
	c, ns := groupClient(t)
	g, first := startHeld(t, c, ns, "q", "p0")
	ctx, cancel := context.WithCancel(context.Background())
	leaver := goEnqueue(ctx, c, "q", []string{"leaver"})
	stayer := goEnqueue(context.Background(), c, "q", []string{"stayer"})
	waitGathered(t, c, groupKey{queue: "q"}, 2)
	g2 := ns.holdNext()
	close(g.release)
	waitFor(t, first, "the first enqueue")
	waitFor(t, g2.entered, "the combined call reaching the driver")
	cancel()
	if o := waitFor(t, leaver, "the cancelled enqueue"); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("cancelled enqueue: %v, %v, want context.Canceled", o.ids, o.err)
	}
	close(g2.release)
	if o := waitFor(t, stayer, "the other enqueue of the combined call"); o.err != nil || len(o.ids) != 1 {
		t.Fatalf("other enqueue: %v, %v", o.ids, o.err)
	}

	// A combined call whose only caller left is cancelled.
	g, first = startHeld(t, c, ns, "q", "p1")
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	leaver = goEnqueue(ctx, c, "q", []string{"leaver2"})
	waitGathered(t, c, groupKey{queue: "q"}, 1)
	g2 = ns.holdNext()
	close(g.release)
	waitFor(t, g2.entered, "the combined call reaching the driver")
	cancel()
	waitFor(t, leaver, "the cancelled enqueue")
	if err := waitFor(t, g2.ctxErr, "the call's ctx ending after its last caller left"); !errors.Is(err, context.Canceled) {
		t.Errorf("the call's ctx ended with %v, want context.Canceled", err)
	}
	waitFor(t, first, "the first enqueue")
}

// TestEnqueueGroupOrder checks that each caller's batch keeps its order in the
// queue and that its IDs are its own tasks'.
func TestEnqueueGroupOrder(t *testing.T) {
	c, ns := groupClient(t)
	g, first := startHeld(t, c, ns, "q", "p0")
	var chs []<-chan outcome
	for i := range 8 {
		var ps []string
		for j := range 10 {
			ps = append(ps, fmt.Sprintf("c%d-%02d", i, j))
		}
		chs = append(chs, goEnqueue(context.Background(), c, "q", ps))
	}
	waitGathered(t, c, groupKey{queue: "q"}, 8)
	close(g.release)
	waitFor(t, first, "the first enqueue")
	want := map[string]string{}
	for i, ch := range chs {
		o := waitFor(t, ch, "an enqueue")
		if o.err != nil || len(o.ids) != 10 {
			t.Fatalf("enqueue %d: %v, %v", i, o.ids, o.err)
		}
		for j, id := range o.ids {
			want[id] = fmt.Sprintf("c%d-%02d", i, j)
		}
	}
	ids, payloads := queued(t, ns, "q")
	for i, id := range ids[1:] {
		if want[id] != payloads[i+1] {
			t.Errorf("task %s has payload %q, want %q", id, payloads[i+1], want[id])
		}
	}
	for i := range 8 {
		var mine []string
		for _, p := range payloads {
			if strings.HasPrefix(p, fmt.Sprintf("c%d-", i)) {
				mine = append(mine, p)
			}
		}
		if !slices.IsSorted(mine) || len(mine) != 10 {
			t.Errorf("caller %d's tasks queued as %v, want its 10 in order", i, mine)
		}
	}
}

// TestEnqueueGroupKinds checks that AtHead, Delay and Unique enqueues do not wait
// for a plain call in flight nor join it, and that Coalesce(false) turns grouping
// off.
func TestEnqueueGroupKinds(t *testing.T) {
	c, ns := groupClient(t)
	g, first := startHeld(t, c, ns, "q", "plain0")
	plain := goEnqueue(context.Background(), c, "q", []string{"plain1"})
	for name, ch := range map[string]<-chan outcome{
		"head":   goEnqueue(context.Background(), c, "q", []string{"head"}, AtHead()),
		"delay":  goEnqueue(context.Background(), c, "q", []string{"delay"}, Delay(time.Hour)),
		"unique": goEnqueue(context.Background(), c, "q", []string{"unique"}, Unique()),
		"other":  goEnqueue(context.Background(), c, "other", []string{"other"}),
	} {
		if o := waitFor(t, ch, name+" enqueue while a plain call is held"); o.err != nil {
			t.Errorf("%s: %v", name, o.err)
		}
	}
	waitGathered(t, c, groupKey{queue: "q"}, 1)
	close(g.release)
	waitFor(t, first, "the first enqueue")
	waitFor(t, plain, "the second plain enqueue")
	ns.mu.Lock()
	for _, p := range ns.calls {
		for _, m := range p.Tasks {
			kind := strings.TrimRight(string(m.Payload), "0123456789")
			if p.AtHead != (kind == "head") || (p.Delay != 0) != (kind == "delay") || p.Unique != (kind == "unique") || (p.Queue == "other") != (kind == "other") {
				t.Errorf("task %q went in a call with AtHead %v, Delay %v, Unique %v, queue %q", m.Payload, p.AtHead, p.Delay, p.Unique, p.Queue)
			}
		}
	}
	ns.mu.Unlock()

	off, ns := groupClient(t, Coalesce(false))
	g, first = startHeld(t, off, ns, "q", "p0")
	if o := waitFor(t, goEnqueue(context.Background(), off, "q", []string{"p1"}), "an enqueue with Coalesce(false)"); o.err != nil {
		t.Fatal(o.err)
	}
	close(g.release)
	waitFor(t, first, "the first enqueue")
}

// TestEnqueueGroupErrors checks that a combined call's error goes to each of its
// callers, ErrNotReplicated with each caller's own IDs.
func TestEnqueueGroupErrors(t *testing.T) {
	for _, fail := range []error{ErrUnavailable, fmt.Errorf("%w: 0 of 1 replicas", ErrNotReplicated)} {
		t.Run(fail.Error(), func(t *testing.T) {
			c, ns := groupClient(t)
			g, first := startHeld(t, c, ns, "q", "p0")
			a := goEnqueue(context.Background(), c, "q", []string{"a1", "a2"})
			b := goEnqueue(context.Background(), c, "q", []string{"b1"})
			waitGathered(t, c, groupKey{queue: "q"}, 2)
			ns.mu.Lock()
			ns.fail = fail
			ns.mu.Unlock()
			close(g.release)
			want := map[string]string{}
			if o := waitFor(t, first, "the first enqueue"); o.err != nil {
				t.Fatal(o.err)
			} else {
				want[o.ids[0]] = "p0"
			}
			for i, ch := range []<-chan outcome{a, b} {
				o := waitFor(t, ch, "an enqueue of the failing call")
				if !errors.Is(o.err, fail) && !errors.Is(o.err, errors.Unwrap(fail)) {
					t.Errorf("caller %d: %v, want %v", i, o.err, fail)
				}
				if !errors.Is(fail, ErrNotReplicated) {
					continue
				}
				mine := [][]string{{"a1", "a2"}, {"b1"}}[i]
				if len(o.ids) != len(mine) {
					t.Fatalf("caller %d: IDs %v with ErrNotReplicated, want %d", i, o.ids, len(mine))
				}
				for j, id := range o.ids {
					want[id] = mine[j]
				}
			}
			checkQueued(t, ns, "q", want)
		})
	}
}

// TestEnqueueGroupUnique checks that unique enqueues coalesce with each other,
// and that a duplicate fails only its own caller: the combined call that finds
// it is made again caller by caller, in the order they joined, so a key two
// callers share goes to the first.
func TestEnqueueGroupUnique(t *testing.T) {
	c, ns := groupClient(t)
	ctx := context.Background()
	taken, err := c.Enqueue(ctx, "q", []byte("taken"), Unique())
	if err != nil {
		t.Fatal(err)
	}
	uk := groupKey{queue: "q", unique: true}

	// No duplicate: one combined call for the gathered callers.
	g, first := startHeld(t, c, ns, "q", "u0", Unique())
	a := goEnqueue(ctx, c, "q", []string{"a1", "a2"}, Unique())
	b := goEnqueue(ctx, c, "q", []string{"b1"}, Unique())
	waitGathered(t, c, uk, 2)
	calls := ns.callCount()
	close(g.release)
	want := map[string]string{taken: "taken"}
	for i, ch := range []<-chan outcome{first, a, b} {
		o := waitFor(t, ch, "a unique enqueue without duplicates")
		if o.err != nil {
			t.Fatalf("unique enqueue %d: %v", i, o.err)
		}
		for j, id := range o.ids {
			want[id] = [][]string{{"u0"}, {"a1", "a2"}, {"b1"}}[i][j]
		}
	}
	if n := ns.callCount() - calls; n != 1 {
		t.Errorf("two gathered unique callers took %d driver calls, want 1", n)
	}

	// A duplicate of a waiting task, and a key shared by two callers.
	g, first = startHeld(t, c, ns, "q", "v0", Unique())
	ok1 := goEnqueue(ctx, c, "q", []string{"c1"}, Unique())
	dupWaiting := goEnqueue(ctx, c, "q", []string{"x", "taken"}, Unique())
	winner := goEnqueue(ctx, c, "q", []string{"shared"}, Unique())
	waitGathered(t, c, uk, 3)
	loser := goEnqueue(ctx, c, "q", []string{"y", "shared"}, Unique())
	waitGathered(t, c, uk, 4)
	ok2 := goEnqueue(ctx, c, "q", []string{"c2"}, Unique())
	waitGathered(t, c, uk, 5)
	calls = ns.callCount()
	close(g.release)
	for name, ch := range map[string]<-chan outcome{"duplicate of a waiting task": dupWaiting, "second caller of a shared key": loser} {
		if o := waitFor(t, ch, name); !errors.Is(o.err, ErrDuplicate) || o.ids != nil {
			t.Errorf("%s: %v %v, want ErrDuplicate and no IDs", name, o.ids, o.err)
		}
	}
	for i, ch := range []<-chan outcome{first, ok1, winner, ok2} {
		o := waitFor(t, ch, "a unique enqueue beside duplicates")
		if o.err != nil || len(o.ids) != 1 {
			t.Fatalf("unique enqueue %d beside duplicates: %v %v", i, o.ids, o.err)
		}
		want[o.ids[0]] = []string{"v0", "c1", "shared", "c2"}[i]
	}
	// The combined call, then each of the five callers alone.
	if n := ns.callCount() - calls; n != 6 {
		t.Errorf("a combined unique call with duplicates took %d driver calls, want 6", n)
	}
	checkQueued(t, ns, "q", want)
}
