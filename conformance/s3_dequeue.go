package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S3.1 strict priority across queues", fn: testPriority},
		test{name: "S3.2 answered tasks are dropped and the answer's TTL refreshed", fn: testDedupe},
		test{name: "S3.2 dedupe refreshes an error answer to the error TTL", fn: testDedupeErrorTTL},
		test{name: "S3.3 a batch returns up to N distinct tasks", fn: testBatchDequeue},
		test{name: "S3.4 a wait of 0 returns at once", fn: testNoWait},
		test{name: "S3.4 a wait returns empty when it runs out", fn: testWaitRunsOut},
		test{name: "S3.4 a task enqueued during a wait is delivered promptly", fn: testWakeUp},
		test{name: "S3.4 each waiting consumer is woken for its own queue", fn: testWakeRightQueue},
		test{name: "S3.5 cancelling a waiting dequeue returns the context's error", fn: testCancelWait},
		test{name: "S3.5 a context deadline ends a waiting dequeue with ErrTimeout", fn: testDeadlineWait},
		test{name: "S3.5 cancellations lose no task", fn: testCancelLosesNothing},
		test{name: "S3.6 concurrent consumers never share a task", fn: testNoDoubleDelivery},
	)
}

func testPriority(e *env) {
	c := e.client(keyq.WithQueues("high", "low"))
	e.enqueue(c, "low", "low1")
	e.enqueue(c, "high", "high1")
	e.enqueue(c, "low", "low2")
	e.enqueue(c, "high", "high2")
	e.enqueue(c, "other", "not served")
	if got, want := e.drain(c), []string{"high1", "high2", "low1", "low2"}; !slices.Equal(got, want) {
		e.Fatalf("order %v, want %v", got, want)
	}
	e.enqueue(c, "low", "low3")
	e.enqueue(c, "high", "high3")
	e.nextPayload(c, "low3", keyq.From("low", "high"))
	e.nextPayload(c, "not served", keyq.From("other"))
}

func testDedupe(e *env) {
	c := e.client(keyq.WithAnswerTTL(e.u(10), e.u(10)))
	stored := e.mark()
	if err := c.SetAnswer(e.ctx, "done", "cached"); err != nil {
		e.Fatal(err)
	}
	e.advance(8)
	e.enqueue(c, "q", "done")
	e.enqueue(c, "q", "x", keyq.Key("done"))
	e.enqueue(c, "q", "todo")
	e.within(stored, 10, "storing the answer and the dequeues that drop its tasks", func() {
		res, err := c.Dequeue(e.ctx, keyq.Batch(1))
		if err != nil || len(res) != 1 || string(res[0].Payload) != "todo" {
			e.Fatalf("Dequeue = %v, %v; want the unanswered task, in the same call", res, err)
		}
		st := e.stats(c, "q")
		if st.Counters.Deduped != 2 || st.Queues["q"].Waiting != 0 || st.Counters.Delivered != 1 {
			e.Fatalf("stats %+v, want 2 deduped, 1 delivered, none waiting", st)
		}
	})
	e.enqueue(c, "q", "done")
	e.enqueue(c, "q", "fresh")
	refreshed := e.mark()
	e.within(stored, 10, "storing the answer and the dequeues that drop its tasks", func() {
		dr, err := e.handle().Dequeue(e.ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 5, Lease: e.u(5)})
		if err != nil || len(dr.Leases) != 1 || dr.Deduped != 1 {
			e.Fatalf("driver Dequeue = %d leases, %d deduped, %v; want 1 and 1", len(dr.Leases), dr.Deduped, err)
		}
	})
	e.advance(8) // 16 units after the answer was stored: alive only if refreshed at 8
	e.within(refreshed, 10, "the refresh by dedupe and the read after it", func() {
		if ok, err := c.Exists(e.ctx, "done"); err != nil || !ok {
			e.Fatalf("answer gone %v after its TTL was refreshed by dedupe: %v", e.u(8), err)
		}
	})
	e.advance(3) // 11 units after the refresh
	if ok, err := c.Exists(e.ctx, "done"); err != nil || ok {
		e.Fatalf("answer still there a full TTL after the refresh: %v %v", ok, err)
	}
}

func testDedupeErrorTTL(e *env) {
	c := e.client(keyq.WithAnswerTTL(e.u(20), e.u(6)))
	stored := e.mark()
	if err := c.SetErrorAnswer(e.ctx, "bad", "boom"); err != nil {
		e.Fatal(err)
	}
	e.advance(3)
	e.enqueue(c, "q", "bad")
	refreshed := e.mark()
	e.within(stored, 6, "storing the error answer and the dequeue that drops its task", func() { e.none(c) })
	e.within(refreshed, 6, "the refresh by dedupe and the reads after it", func() {
		a, err := c.Answer(e.ctx, "bad")
		if err != nil || a.OK || a.TTL != e.u(6) {
			e.Fatalf("Answer = %+v, %v; want the error answer with its 6-unit TTL", a, err)
		}
		e.advance(4) // 7 units after storing, 4 after the refresh
		if ok, _ := c.Exists(e.ctx, "bad"); !ok {
			e.Fatal("error answer gone although dedupe refreshed it")
		}
	})
	e.advance(3)
	if ok, _ := c.Exists(e.ctx, "bad"); ok {
		e.Fatal("error answer refreshed to more than its error TTL")
	}
}

func testBatchDequeue(e *env) {
	c := e.client(keyq.WithQueues("a", "b"))
	for i := range 2 {
		e.enqueue(c, "a", fmt.Sprint("a", i))
	}
	for i := range 3 {
		e.enqueue(c, "b", fmt.Sprint("b", i))
	}
	seen := map[string]bool{}
	for _, want := range []int{3, 2, 0} {
		ls, err := c.Dequeue(e.ctx, keyq.Batch(3))
		if err != nil || len(ls) != want {
			e.Fatalf("Dequeue(Batch(3)) = %d leases, %v; want %d", len(ls), err, want)
		}
		for _, l := range ls {
			if seen[l.ID] {
				e.Fatalf("task %s delivered twice", l.ID)
			}
			seen[l.ID] = true
		}
	}
	if len(seen) != 5 {
		e.Fatalf("delivered %d tasks, want 5", len(seen))
	}
}

// testNoWait checks that a dequeue with a wait of 0 on an empty queue takes no
// longer than one that finds a task at once: the best of a few tries of each, so
// that a loaded machine slows both alike. A driver that waits any real time on an
// empty queue takes many calls' worth (the floor of a millisecond keeps in-process
// backends, whose calls take microseconds, from being judged on scheduling noise).
func testNoWait(e *env) {
	c := e.client()
	var empty, found time.Duration
	for i := range 5 {
		start := time.Now()
		e.none(c, keyq.Wait(0))
		d := time.Since(start)
		if i == 0 || d < empty {
			empty = d
		}
		e.enqueue(c, "q", fmt.Sprint(i))
		start = time.Now()
		l := e.next(c, keyq.Wait(longWait))
		if d := time.Since(start); i == 0 || d < found {
			found = d
		}
		e.ack(c, l)
	}
	if empty > 10*max(found, time.Millisecond) {
		e.Fatalf("a dequeue without wait on an empty queue took %v at best, one that found a task %v: it waited", empty, found)
	}
}

func testWaitRunsOut(e *env) {
	c := e.client()
	for _, wait := range []time.Duration{30 * time.Millisecond, 250 * time.Millisecond} {
		start := time.Now()
		ls, err := c.Dequeue(e.ctx, keyq.Wait(wait))
		d := time.Since(start)
		if err != nil || len(ls) != 0 {
			e.Fatalf("Dequeue(Wait(%v)) on an empty queue = %d leases, %v; want none and no error", wait, len(ls), err)
		}
		if d < wait || d > wait+patience {
			e.Fatalf("Dequeue(Wait(%v)) returned after %v", wait, d)
		}
	}
}

// testWakeUp checks that a task enqueued while a consumer waits reaches it long
// before the consumer's wait would end and it would look again (its next poll).
// How fast is for the wakeup benchmark to say; a test on a shared machine cannot.
// A driver that polls on the backend's clock never delivers on a fake clock.
func testWakeUp(e *env) {
	c := e.client()
	var took []time.Duration
	for i := range 5 {
		got := waitFor(func() *keyq.Lease {
			l, err := c.Next(e.ctx, keyq.Wait(longWait))
			if err != nil {
				e.Errorf("waiting Next: %v", err)
			}
			return l
		})
		e.settle(1)
		start := time.Now()
		e.enqueue(c, "q", fmt.Sprint("t", i))
		l := receive(e, got, "a waiting consumer after an enqueue (woken only when its wait runs out?)")
		d := time.Since(start)
		if l == nil {
			e.Fatalf("delivery %d: nothing after %v, the consumer's wait ran out", i, d)
		}
		took = append(took, d)
		e.ack(c, l)
	}
	e.Logf("enqueue-to-delivery times %v, with waits of %v", took, longWait)
}

func testWakeRightQueue(e *env) {
	c := e.client(keyq.WithQueues("a", "b"))
	onlyB := waitFor(func() *keyq.Lease {
		l, err := c.Next(e.ctx, keyq.From("b"), keyq.Wait(longWait))
		if err != nil {
			e.Errorf("waiting Next on b: %v", err)
		}
		return l
	})
	onlyA := waitFor(func() *keyq.Lease {
		l, err := c.Next(e.ctx, keyq.From("a"), keyq.Wait(longWait))
		if err != nil {
			e.Errorf("waiting Next on a: %v", err)
		}
		return l
	})
	e.settle(2)
	e.enqueue(c, "a", "for a")
	if l := receive(e, onlyA, "the consumer of queue a"); l == nil || string(l.Payload) != "for a" {
		e.Fatalf("consumer of a got %v", l)
	}
	e.enqueue(c, "b", "for b")
	if l := receive(e, onlyB, "the consumer of queue b"); l == nil || string(l.Payload) != "for b" {
		e.Fatalf("consumer of b got %v", l)
	}
}

func testCancelWait(e *env) {
	c := e.client()
	ctx, cancel := context.WithCancel(e.ctx)
	got := waitFor(func() error { _, err := c.Next(ctx, keyq.Wait(longWait)); return err })
	e.settle(1)
	start := time.Now()
	cancel()
	err := receive(e, got, "a cancelled waiting dequeue")
	if !errors.Is(err, context.Canceled) {
		e.Fatalf("cancelled dequeue: %v after %v; want context.Canceled, long before its wait ends", err, time.Since(start))
	}
	e.enqueue(c, "q", "still here")
	e.nextPayload(c, "still here")
}

func testDeadlineWait(e *env) {
	c := e.client()
	ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Next(ctx, keyq.Wait(longWait))
	if !errors.Is(err, keyq.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		e.Fatalf("dequeue past its context deadline: %v; want ErrTimeout and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > patience {
		e.Fatalf("dequeue returned %v after its deadline of 100ms, nearer its wait of %v", d, longWait)
	}
}

func testCancelLosesNothing(e *env) {
	c := e.client()
	const n = 200
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(e.ctx, time.Duration((i+w)%4)*time.Millisecond)
				if (i+w)%3 == 0 {
					cancel() // cancelled before or while it waits
				}
				ls, err := c.Dequeue(ctx, keyq.Wait(5*time.Millisecond), keyq.Batch(1+i%3))
				cancel()
				if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, keyq.ErrTimeout) {
					e.Errorf("Dequeue: %v", err)
					return
				}
				for j := range ls {
					mu.Lock()
					got[string(ls[j].Payload)]++
					mu.Unlock()
					if err := c.Ack(e.ctx, &ls[j]); err != nil {
						e.Errorf("Ack: %v", err)
					}
				}
			}
		}()
	}
	for i := range n {
		e.enqueue(c, "q", fmt.Sprint(i))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		have := len(got)
		mu.Unlock()
		st := e.stats(c, "q")
		if have == n || time.Now().After(deadline) {
			break
		}
		if st.Queues["q"].Leased > 0 && st.Queues["q"].Waiting == 0 && have+int(st.Queues["q"].Leased) == n {
			break // leases held by nobody: checked below
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	close(stop)
	wg.Wait()
	st := e.stats(c, "q")
	for p, k := range got {
		if k != 1 {
			e.Errorf("task %s delivered %d times", p, k)
		}
	}
	if len(got) != n || st.Queues["q"].Leased != 0 || st.Counters.Acked != n {
		e.Fatalf("delivered %d of %d tasks; stats %+v: a task taken during a cancellation was neither returned nor left available", len(got), n, st)
	}
}

func testNoDoubleDelivery(e *env) {
	c := e.client()
	const n = 500
	for i := range n {
		e.enqueue(c, "q", fmt.Sprint(i))
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ls, err := c.Dequeue(e.ctx, keyq.Batch(3))
				if err != nil {
					e.Errorf("Dequeue: %v", err)
					return
				}
				if len(ls) == 0 {
					return
				}
				mu.Lock()
				for _, l := range ls {
					if seen[l.ID] {
						e.Errorf("task %s delivered twice while its lease was live", l.ID)
					}
					seen[l.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		e.Fatalf("delivered %d tasks, want %d", len(seen), n)
	}
}
