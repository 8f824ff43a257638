package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S8.1 each failure matches exactly its own sentinel", fn: testTypedErrors},
		test{name: "S8.2 all methods are safe for concurrent use", fn: testConcurrentUse},
		test{name: "S8.3 Close ends waits, fails later calls, and leaves no goroutine", fn: testClose, serial: true},
		test{name: "S8.4 nothing panics on bad input", fn: testNoPanics},
	)
}

var sentinels = []error{keyq.ErrInvalid, keyq.ErrNotFound, keyq.ErrDuplicate, keyq.ErrLeaseLost, keyq.ErrTimeout, keyq.ErrUnavailable, keyq.ErrClosed}

func (e *env) wantOnly(what string, err, want error) {
	e.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) != (s == want) {
			e.Fatalf("%s: error %v; want it to match %v and no other sentinel", what, err, want)
		}
	}
	if !strings.HasPrefix(err.Error(), "keyq: ") {
		e.Fatalf("%s: error %q does not say it comes from keyq", what, err)
	}
}

func testTypedErrors(e *env) {
	c := e.client()
	_, err := c.Enqueue(e.ctx, "", nil)
	e.wantOnly("empty queue", err, keyq.ErrInvalid)
	_, err = c.Job(e.ctx, "404")
	e.wantOnly("missing job", err, keyq.ErrNotFound)
	e.wantOnly("missing answer", c.DeleteAnswer(e.ctx, "404"), keyq.ErrNotFound)
	e.enqueue(c, "q", "k")
	_, err = c.Enqueue(e.ctx, "q", []byte("k"), keyq.Unique())
	e.wantOnly("duplicate", err, keyq.ErrDuplicate)
	l := e.next(c)
	e.ack(c, l)
	e.wantOnly("lease lost", c.Ack(e.ctx, l), keyq.ErrLeaseLost)
	ctx, cancel := context.WithTimeout(e.ctx, -1)
	defer cancel()
	_, err = c.Stats(ctx)
	if !errors.Is(err, keyq.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		e.Fatalf("Stats with an expired context: %v", err)
	}
}

func testConcurrentUse(e *env) {
	c := e.client(keyq.Queues("a", "b"))
	const workers, rounds = 8, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range rounds {
				q := []string{"a", "b"}[r.IntN(2)]
				p := fmt.Sprintf("w%d-%d", w, i)
				if _, err := c.Enqueue(e.ctx, q, []byte(p), keyq.Type("t")); err != nil {
					e.Errorf("Enqueue: %v", err)
					return
				}
				ls, err := c.Dequeue(e.ctx, keyq.Batch(1+r.IntN(3)))
				if err != nil {
					e.Errorf("Dequeue: %v", err)
					return
				}
				for j := range ls {
					switch r.IntN(4) {
					case 0:
						err = c.Release(e.ctx, &ls[j], keyq.ToTail())
					case 1:
						err = c.Extend(e.ctx, &ls[j], time.Minute)
						if err == nil {
							err = c.Ack(e.ctx, &ls[j], keyq.WithAnswer(i))
						}
					default:
						err = c.Ack(e.ctx, &ls[j], keyq.WithAnswer(i))
					}
					if err != nil {
						e.Errorf("lease call: %v", err)
					}
				}
				if _, err := c.Stats(e.ctx); err != nil && !errors.Is(err, errors.ErrUnsupported) {
					e.Errorf("Stats: %v", err)
				}
				if _, err := c.Answer(e.ctx, p); err != nil && !errors.Is(err, keyq.ErrNotFound) {
					e.Errorf("Answer: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	done := len(e.drain(c))
	st := e.stats(c)
	if got := st.Counters.Acked; int(got) != workers*rounds || st.Counters.Enqueued != workers*rounds {
		e.Fatalf("counters %+v after draining %d; want %d enqueued and acked", st.Counters, done, workers*rounds)
	}
}

func testClose(e *env) {
	c := e.client()
	_, limits := e.handle().(backend.RateLimiter)
	_, controls := e.handle().(backend.Controller)
	_, inspects := e.handle().(backend.Inspector)
	e.enqueue(c, "q", "a")
	l := e.next(c)
	got := waitFor(func() error { _, err := c.Next(e.ctx, keyq.Wait(longWait)); return err })
	e.settle(1)
	if err := e.tg.Backend.Close(); err != nil {
		e.Fatalf("Close: %v", err)
	}
	err := receive(e, got, "a waiting dequeue after Close")
	e.wantErr("waiting dequeue after Close", err, keyq.ErrClosed)
	calls := map[string]func() error{
		"Enqueue":        func() error { _, err := c.Enqueue(e.ctx, "q", []byte("x")); return err },
		"EnqueueBatch":   func() error { _, err := c.EnqueueBatch(e.ctx, "q", []keyq.Message{{Payload: []byte("x")}}); return err },
		"Next":           func() error { _, err := c.Next(e.ctx); return err },
		"Ack":            func() error { return c.Ack(e.ctx, l) },
		"Release":        func() error { return c.Release(e.ctx, l) },
		"Extend":         func() error { return c.Extend(e.ctx, l, time.Second) },
		"Reclaim":        func() error { _, err := c.Reclaim(e.ctx); return err },
		"SetAnswer":      func() error { return c.SetAnswer(e.ctx, "a", 1) },
		"Answer":         func() error { _, err := c.Answer(e.ctx, "a"); return err },
		"DeleteAnswer":   func() error { return c.DeleteAnswer(e.ctx, "a") },
		"Job":            func() error { _, err := c.Job(e.ctx, l.ID); return err },
		"Stats":          func() error { _, err := c.Stats(e.ctx); return err },
		"Peek":           func() error { _, err := c.Peek(e.ctx, "q", 0, 1); return err },
		"Leases":         func() error { _, err := c.Leases(e.ctx, 1); return err },
		"Dead":           func() error { _, err := c.Dead(e.ctx, 0, 1); return err },
		"RequeueDead":    func() error { _, err := c.RequeueDead(e.ctx, "1"); return err },
		"RequeueAllDead": func() error { _, err := c.RequeueAllDead(e.ctx); return err },
		"PurgeDead":      func() error { _, err := c.PurgeDead(e.ctx, "1"); return err },
		"PurgeAllDead":   func() error { _, err := c.PurgeAllDead(e.ctx); return err },
	}
	if controls {
		calls["Pause"] = func() error { return c.Pause(e.ctx, "q") }
		calls["Delete"] = func() error { return c.Delete(e.ctx, l.ID) }
		calls["Cancel"] = func() error { _, err := c.Cancel(e.ctx, l.ID); return err }
	}
	if inspects {
		calls["Delayed"] = func() error { _, err := c.Delayed(e.ctx, "", 0, 1); return err }
	}
	if limits {
		calls["Allow"] = func() error { _, err := c.Allow(e.ctx, "r", time.Second, 1); return err }
	}
	for name, call := range calls {
		e.wantErr(name+" after Close", call(), keyq.ErrClosed)
	}
	if err := e.tg.Backend.Close(); err != nil {
		e.Fatalf("second Close: %v, want nil", err)
	}
	deadline := time.Now().Add(patience)
	for n := driverGoroutines(e.tg.Backend); n > 0; n = driverGoroutines(e.tg.Backend) {
		if time.Now().After(deadline) {
			e.Fatalf("%d goroutines of the driver still run %v after Close", n, patience)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func testNoPanics(e *env) {
	c := e.client()
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		return []string{"", "x", "{}", "\x00", strings.Repeat("z", 300), "-1", "99999999999999999999"}[r.IntN(7)]
	}
	num := func() int { return []int{-1 << 40, -1, 0, 1, 3, 1 << 40}[r.IntN(6)] }
	dur := func() time.Duration {
		return []time.Duration{-time.Hour, -1, 0, 1, time.Millisecond, time.Hour}[r.IntN(6)]
	}
	lease := func() *keyq.Lease {
		if r.IntN(5) == 0 {
			return nil
		}
		return &keyq.Lease{Task: keyq.Task{ID: str()}, Token: str()}
	}
	calls := []func() error{
		func() error {
			_, err := c.Enqueue(e.ctx, str(), []byte(str()), keyq.Delay(dur()), keyq.MaxAttempts(num()))
			return err
		},
		func() error { _, err := c.EnqueueBatch(e.ctx, str(), []keyq.Message{{Key: str()}}); return err },
		func() error {
			_, err := c.Dequeue(e.ctx, keyq.Batch(num()), keyq.LeaseFor(dur()), keyq.Queues(str()))
			return err
		},
		func() error { return c.Ack(e.ctx, lease(), keyq.WithAnswer(str())) },
		func() error { return c.Release(e.ctx, lease(), keyq.Delay(dur())) },
		func() error { return c.Extend(e.ctx, lease(), dur()) },
		func() error { _, err := c.Peek(e.ctx, str(), num(), num()); return err },
		func() error { _, err := c.Leases(e.ctx, num()); return err },
		func() error { _, err := c.Dead(e.ctx, num(), num()); return err },
		func() error { _, err := c.RequeueDead(e.ctx, str()); return err },
		func() error { _, err := c.PurgeDead(e.ctx, str(), str()); return err },
		func() error { _, err := c.Job(e.ctx, str()); return err },
		func() error { _, err := c.Stats(e.ctx, str()); return err },
		func() error { _, err := c.AnswerRefresh(e.ctx, str()); return err },
		func() error { return c.DeleteAnswer(e.ctx, str()) },
		func() error { _, err := c.Delayed(e.ctx, str(), num(), num()); return err },
	}
	if _, ok := e.handle().(backend.Controller); ok {
		calls = append(calls,
			func() error { return c.Pause(e.ctx, str(), str()) },
			func() error { return c.Resume(e.ctx, str()) },
			func() error { return c.Delete(e.ctx, str()) },
			func() error { _, err := c.Cancel(e.ctx, str()); return err },
		)
	}
	for range 600 {
		call := calls[r.IntN(len(calls))]
		func() {
			defer func() {
				if p := recover(); p != nil {
					e.Fatalf("panic on bad input: %v", p)
				}
			}()
			if err := call(); err != nil && !errors.Is(err, keyq.ErrInvalid) && !errors.Is(err, keyq.ErrNotFound) && !errors.Is(err, keyq.ErrLeaseLost) && !errors.Is(err, keyq.ErrLeased) {
				e.Fatalf("bad input gave %v, want ErrInvalid, ErrNotFound, ErrLeaseLost or ErrLeased", err)
			}
		}()
	}
}
