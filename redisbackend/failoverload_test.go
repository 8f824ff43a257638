package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
)

// failoverCounts is what the producers and the worker of failoverLoad saw.
type failoverCounts struct {
	mu       sync.Mutex
	enqueued []string        // keys whose enqueue reported success
	failed   int             // enqueues that reported an error
	answered map[string]bool // keys whose ack reported success
	ackErrs  int             // deliveries whose ack or release failed
	runs     map[string]int  // handler calls per key
}

// failoverResult holds the counts of one failoverLoad run.
type failoverResult struct {
	enqueued, failed  int // enqueues that reported success, an error
	answered, ackErrs int // acks that reported success, deliveries whose ack failed
	lost, answersLost int // enqueued without an answer at the end; of those, answered
	twice             int // tasks whose handler ran more than once
	switchedAfter     time.Duration
}

// failoverLoad runs two producers, enqueueing distinct keys into queue q of
// namespace "failover" on b, and a keyq.Worker answering each. Once 300 tasks
// are enqueued and 100 answered, it calls switchOver, which returns once the
// store has a new master; then it runs until 300 more are enqueued, stops the
// producers, lets the worker drain until every task enqueued is answered or no
// answer came for 5s, and counts.
func failoverLoad(t *testing.T, b *Backend, switchOver func(t *testing.T)) failoverResult {
	t.Helper()
	ctx := context.Background()
	q, err := keyq.New(b, "failover", keyq.Queues("q"), keyq.LeaseFor(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c := &failoverCounts{answered: map[string]bool{}, runs: map[string]int{}}
	stopProducers := make(chan struct{})
	var producers sync.WaitGroup
	for p := range 2 {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for i := 0; ; i++ {
				select {
				case <-stopProducers:
					return
				default:
				}
				key := fmt.Sprintf("p%d-%d", p, i)
				_, err := q.Enqueue(ctx, "q", []byte(key))
				c.mu.Lock()
				if err == nil {
					c.enqueued = append(c.enqueued, key)
				} else {
					c.failed++
				}
				c.mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond) // back off from a store without a master
				}
			}
		}()
	}
	defer func() {
		select {
		case <-stopProducers:
		default:
			close(stopProducers)
		}
		producers.Wait()
	}()

	w, err := keyq.NewWorker(q, keyq.WorkerConfig{Concurrency: 4},
		keyq.WorkerAddOnDone(func(task *keyq.Task, o keyq.Outcome, err error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			switch o {
			case keyq.OutcomeFinished:
				c.answered[string(task.Payload)] = true
			case keyq.OutcomeError:
				c.ackErrs++
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
		c.mu.Lock()
		c.runs[string(task.Payload)]++
		c.mu.Unlock()
		return "done", nil
	})
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	stopWorker := func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = w.Shutdown(sctx)
		if err := <-ran; err != nil && !errors.Is(err, keyq.ErrClosed) {
			t.Errorf("the worker's Run: %v", err)
		}
	}
	stopped := false
	defer func() {
		if !stopped {
			stopWorker()
		}
	}()

	// waitFor waits until cond holds, checking it under c.mu.
	waitFor := func(d time.Duration, cond func() bool) bool {
		deadline := time.Now().Add(d)
		for {
			c.mu.Lock()
			ok := cond()
			c.mu.Unlock()
			if ok {
				return true
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
	}
	if !waitFor(30*time.Second, func() bool { return len(c.enqueued) >= 300 && len(c.answered) >= 100 }) {
		t.Fatal("300 tasks not enqueued and 100 answered within 30s before the failover")
	}
	var r failoverResult
	start := time.Now()
	switchOver(t)
	r.switchedAfter = time.Since(start)
	c.mu.Lock()
	atSwitch := len(c.enqueued)
	c.mu.Unlock()
	if !waitFor(60*time.Second, func() bool { return len(c.enqueued) >= atSwitch+300 }) {
		t.Fatal("300 more tasks not enqueued within 60s after the switch")
	}
	close(stopProducers)
	producers.Wait()

	// Drain: until every task enqueued is answered, or no answer came for 5s.
	last, lastAt := -1, time.Now()
	waitFor(90*time.Second, func() bool {
		if len(c.answered) != last {
			last, lastAt = len(c.answered), time.Now()
		}
		return time.Since(lastAt) > 5*time.Second || allAnswered(c)
	})
	stopped = true
	stopWorker()

	c.mu.Lock()
	defer c.mu.Unlock()
	r.enqueued, r.failed, r.answered, r.ackErrs = len(c.enqueued), c.failed, len(c.answered), c.ackErrs
	for _, key := range c.enqueued {
		ok, err := q.Exists(ctx, key)
		if err != nil {
			t.Fatalf("Exists(%q): %v", key, err)
		}
		if !ok {
			r.lost++
			if c.answered[key] {
				r.answersLost++
			}
		}
	}
	for _, n := range c.runs {
		if n > 1 {
			r.twice++
		}
	}
	return r
}

// report logs the counts on one line, "failover counts: ...", and fails t if a
// durable run lost a task or an answer.
func (r failoverResult) report(t *testing.T, how string, durable bool) {
	t.Helper()
	t.Logf("failover counts: %s, WaitReplicas=%d, switched in %v: %d enqueued (%d enqueues failed), %d answered (%d acks failed); lost %d, answers lost %d, run twice %d",
		how, waitReplicas(durable), r.switchedAfter.Round(time.Millisecond), r.enqueued, r.failed, r.answered, r.ackErrs, r.lost, r.answersLost, r.twice)
	if durable && (r.lost > 0 || r.answersLost > 0) {
		t.Errorf("with WaitReplicas 1, %d tasks and %d answers were lost in the failover; want none", r.lost, r.answersLost)
	}
}

func allAnswered(c *failoverCounts) bool {
	for _, key := range c.enqueued {
		if !c.answered[key] {
			return false
		}
	}
	return true
}
