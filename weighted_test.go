package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/keyq/keyq"
)

// TestWorkerWeightedFairness runs 10,000 deliveries through a worker serving
// always-full queues of weights 6, 3 and 1, and checks that each queue's share
// is within 2 points of 60/30/10 and that the weight-1 queue is served in every
// window of 200 deliveries.
//
// The worker draws from a seeded source, so the test is deterministic; the seed
// is not picked to pass. With the queues always full, each delivery comes from
// queue i with probability w_i/10, independently: over n = 10,000 deliveries the
// share of a queue has a standard deviation of sqrt(p(1-p)/n), 0.49 points for
// p = 0.6, 0.46 for 0.3 and 0.30 for 0.1, so 2 points are more than 4 of them
// for every queue (a chance below 1e-4 for any seed). A window of 200 without
// the weight-1 queue has a chance of 0.9^200, about 7e-10.
func TestWorkerWeightedFairness(t *testing.T) {
	const n, window = 10_000, 200
	weights := map[string]int{"six": 6, "three": 3, "one": 1}
	e := newMemoryEnv(t, false, keyq.JobTracking(false))
	ctx := bounded(t)
	for q := range weights {
		for i := 0; i < n; i += 1000 {
			msgs := make([]keyq.Message, 1000)
			for j := range msgs {
				msgs[j].Payload = fmt.Appendf(nil, "%s-%d", q, i+j)
			}
			if _, err := e.client.EnqueueBatch(ctx, q, msgs); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	var got []string
	full := make(chan struct{})
	w := mustWorker(t, e.client, keyq.WorkerConfig{Weights: weights, Clock: e.wclock},
		keyq.WorkerRand(rand.New(rand.NewPCG(15, 4))))
	w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == n { // the worker runs on until the test ends; the sample is full
			return nil, nil
		}
		if got = append(got, task.Queue); len(got) == n {
			close(full)
		}
		return nil, nil
	})
	start(t, w)
	recv(t, full, fmt.Sprintf("%d deliveries", n))
	mu.Lock()
	sample := slices.Clone(got)
	mu.Unlock()

	count := map[string]int{}
	lastOne := -1
	for i, q := range sample {
		count[q]++
		if q == "one" {
			if i-lastOne > window {
				t.Errorf("deliveries %d to %d: none from the weight-1 queue", lastOne+1, i-1)
			}
			lastOne = i
		}
	}
	if n-1-lastOne >= window {
		t.Errorf("deliveries %d to %d: none from the weight-1 queue", lastOne+1, n-1)
	}
	for q, wt := range weights {
		share, want := 100*float64(count[q])/n, 10*float64(wt)
		t.Logf("queue %s (weight %d): %d deliveries, %.2f%%", q, wt, count[q], share)
		if share < want-2 || share > want+2 {
			t.Errorf("queue %s (weight %d): %.2f%% of the deliveries, want %v%% ± 2", q, wt, share, want)
		}
	}
}

// TestWorkerWeightedFallback checks that a weighted worker takes from a
// light queue when the heavy ones are empty, and serves all of them.
func TestWorkerWeightedFallback(t *testing.T) {
	e := newMemoryEnv(t, false)
	mustEnqueue(t, e.client, "light", "x")
	rec := newRecorder()
	w := mustWorker(t, e.client, keyq.WorkerConfig{Weights: map[string]int{"heavy": MaxW, "light": 1}, Clock: e.wclock}, rec.option())
	w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) { return nil, nil })
	start(t, w)
	if d := rec.expect(t, keyq.OutcomeFinished); d.task.Queue != "light" {
		t.Fatalf("delivered from %q, want light", d.task.Queue)
	}
}

// MaxW is the heaviest weight.
const MaxW = keyq.MaxWeight

func TestWeightedInvalid(t *testing.T) {
	e := newMemoryEnv(t, false)
	for name, cfg := range map[string]keyq.WorkerConfig{
		"both":       {Queues: []string{"a"}, Weights: map[string]int{"a": 1}},
		"zero":       {Weights: map[string]int{"a": 0}},
		"negative":   {Weights: map[string]int{"a": -1}},
		"over":       {Weights: map[string]int{"a": MaxW + 1}},
		"empty name": {Weights: map[string]int{"": 1}},
	} {
		if _, err := keyq.NewWorker(e.client, cfg); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("%s: NewWorker(%+v) = %v, want ErrInvalid", name, cfg, err)
		}
		if name == "both" {
			continue
		}
		if _, err := e.client.Dequeue(context.Background(), keyq.Weighted(cfg.Weights)); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("%s: Dequeue(Weighted(%v)) = %v, want ErrInvalid", name, cfg.Weights, err)
		}
	}
	if _, err := e.client.Dequeue(context.Background(), keyq.Weighted(nil)); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("Dequeue(Weighted(nil)) = %v, want ErrInvalid", err)
	}
}

// TestDequeueWeighted checks that a weighted Dequeue falls back to the other
// queues and serves each of them: with weights 1 and 1, 100 calls all from one
// queue have a chance of 2^-99.
func TestDequeueWeighted(t *testing.T) {
	e := newMemoryEnv(t, false, keyq.JobTracking(false))
	ctx := bounded(t)
	mustEnqueue(t, e.client, "b", "only")
	ls, err := e.client.Dequeue(ctx, keyq.Weighted(map[string]int{"a": MaxW, "b": 1}))
	if err != nil || len(ls) != 1 || ls[0].Queue != "b" {
		t.Fatalf("Dequeue = %v, %v; want the task of queue b", ls, err)
	}
	for i := range 100 {
		mustEnqueue(t, e.client, "a", fmt.Sprint("a", i))
		mustEnqueue(t, e.client, "b", fmt.Sprint("b", i))
	}
	count := map[string]int{}
	for range 100 {
		l, err := e.client.Next(ctx, keyq.Weighted(map[string]int{"a": 1, "b": 1}))
		if err != nil || l == nil {
			t.Fatalf("Next = %v, %v", l, err)
		}
		count[l.Queue]++
	}
	if count["a"] == 0 || count["b"] == 0 {
		t.Fatalf("100 weighted calls served %v, want both queues", count)
	}
}
