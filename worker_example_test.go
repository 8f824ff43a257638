package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/memory"
)

// A worker serves the queues of a namespace in priority order, answers each task
// with its handler's result, and stops on Shutdown.
func ExampleWorker() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "callapp", keyq.Queues("queue", "reestr"))

	done := make(chan string, 3)
	w, _ := keyq.NewWorker(q, keyq.WorkerConfig{OnDone: func(t *keyq.Task, o keyq.Outcome, err error) {
		done <- fmt.Sprintf("%s from %s: %s", t.Payload, t.Queue, o)
	}})
	w.HandleFunc("", func(ctx context.Context, t *keyq.Task) (any, error) {
		fmt.Println("handling", string(t.Payload))
		return strings.ToUpper(string(t.Payload)), nil
	})

	_, _ = q.Enqueue(ctx, "reestr", []byte("registry-1"))
	_, _ = q.Enqueue(ctx, "queue", []byte("call-1"))
	_, _ = q.Enqueue(ctx, "queue", []byte("call-2"))

	go func() { _ = w.Run(ctx) }()
	// Handlers run in queue priority order; acks settle in the background, so
	// outcomes may come in another order.
	var outcomes []string
	for range 3 {
		outcomes = append(outcomes, <-done)
	}
	_ = w.Shutdown(ctx)
	slices.Sort(outcomes)
	fmt.Println(strings.Join(outcomes, "\n"))

	a, _ := q.Answer(ctx, "registry-1")
	fmt.Println(string(a.Value), a.OK)
	fmt.Printf("%+v\n", w.Stats())
	// Output:
	// handling call-1
	// handling call-2
	// handling registry-1
	// call-1 from queue: finished
	// call-2 from queue: finished
	// registry-1 from reestr: finished
	// "REGISTRY-1" true
	// {Processed:3 Failed:0 Retried:0 Dead:0 Lost:0 Cancelled:0 Returned:0 Errors:0 Timeouts:0 Panics:0 InFlight:0 Running:0 Refreshes:0 RefreshFailures:0}
}

// A handler marks a business failure with Final: the task is answered with an
// error answer, kept for the error TTL, instead of being retried. Any other error is
// retried: by default after a backoff of 0.5 to 1s that doubles with each attempt
// (DefaultWorkerBackoff), here at once.
func ExampleFinal() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "lookup")

	done := make(chan string, 3)
	w, _ := keyq.NewWorker(q, keyq.WorkerConfig{Backoff: keyq.ImmediateBackoff},
		keyq.WorkerConfig{OnDone: func(t *keyq.Task, o keyq.Outcome, err error) {
			done <- fmt.Sprintf("%s attempt %d: %s (%v)", t.Payload, t.Attempt, o, err)
		}},
	)
	w.HandleFunc("", func(ctx context.Context, t *keyq.Task) (any, error) {
		switch {
		case string(t.Payload) == "unknown-number":
			return nil, keyq.Final(errors.New("no such subscriber"))
		case t.Attempt == 0:
			return nil, errors.New("upstream busy")
		}
		return "found", nil
	})
	_, _ = q.Enqueue(ctx, keyq.DefaultQueue, []byte("unknown-number"))
	_, _ = q.Enqueue(ctx, keyq.DefaultQueue, []byte("+15550100"))

	go func() { _ = w.Run(ctx) }()
	// Acks settle in the background: outcomes come in no set order.
	var outcomes []string
	for range 3 {
		outcomes = append(outcomes, <-done)
	}
	_ = w.Shutdown(ctx)
	slices.Sort(outcomes)
	fmt.Println(strings.Join(outcomes, "\n"))

	a, _ := q.Answer(ctx, "unknown-number")
	fmt.Println(string(a.Value), a.OK)
	// Output:
	// +15550100 attempt 0: retried (upstream busy)
	// +15550100 attempt 1: finished (<nil>)
	// unknown-number attempt 0: failed (no such subscriber)
	// {"error":"no such subscriber"} false
}

// Middleware wraps every handler, here to time it.
func ExampleWorker_Use() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "jobs")

	done := make(chan struct{})
	w, _ := keyq.NewWorker(q, keyq.WorkerConfig{OnDone: func(*keyq.Task, keyq.Outcome, error) { close(done) }})
	w.Use(func(next keyq.Handler) keyq.Handler {
		return keyq.HandlerFunc(func(ctx context.Context, t *keyq.Task) (any, error) {
			began := time.Now()
			v, err := next.Handle(ctx, t)
			fmt.Printf("%s took under a minute: %v\n", t.Type, time.Since(began) < time.Minute)
			return v, err
		})
	})
	w.HandleFunc("resize", func(ctx context.Context, t *keyq.Task) (any, error) { return "ok", nil })
	_, _ = q.Enqueue(ctx, keyq.DefaultQueue, []byte("img-1"), keyq.Type("resize"))

	go func() { _ = w.Run(ctx) }()
	<-done
	_ = w.Shutdown(ctx)
	// Output:
	// resize took under a minute: true
}

// A worker in front of a rate-limited API: at most one task start every interval,
// and credentials refreshed at start and whenever they are older than the period.
func ExampleWorkerConfig_refresh() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "sheets")

	token := 0
	refresh := func(ctx context.Context) error {
		token++
		fmt.Println("refreshed credentials:", token)
		return nil
	}
	done := make(chan struct{}, 2)
	w, _ := keyq.NewWorker(q,
		keyq.WorkerConfig{MinInterval: 10 * time.Millisecond},
		keyq.WorkerConfig{Refresh: refresh, RefreshPeriod: time.Hour},
		keyq.WorkerConfig{OnDone: func(*keyq.Task, keyq.Outcome, error) { done <- struct{}{} }})
	w.HandleFunc("", func(ctx context.Context, t *keyq.Task) (any, error) {
		fmt.Printf("%s with token %d\n", t.Payload, token)
		return nil, nil
	})
	_, _ = q.Enqueue(ctx, keyq.DefaultQueue, []byte("read"))
	_, _ = q.Enqueue(ctx, keyq.DefaultQueue, []byte("write"))

	go func() { _ = w.Run(ctx) }()
	<-done
	<-done
	_ = w.Shutdown(ctx)
	// Output:
	// refreshed credentials: 1
	// read with token 1
	// write with token 1
}
