// Command validation is a validation run through a keyq worker: it queues the
// numbers 0 to n-1, handles them with several handlers at once while every second
// delivery of each task fails and goes back to the queue, and checks that every
// number comes out exactly once, each with its answer.
//
//	go run ./examples/validation -n 10000 -c 8           # in-memory backend
//	go run ./examples/validation -redis redis://localhost:6379/0
//
// On Redis it works in a fresh namespace, example-validation-<random>, and deletes
// the namespace's keys when it ends, unless -keep is given (then it prints the
// namespace's name, for keyq stats and friends).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
)

type config struct {
	redisURL    string
	n           int
	concurrency int
	batch       int
	keep        bool // on Redis, keep the namespace's keys at the end
}

func main() {
	var cfg config
	flag.StringVar(&cfg.redisURL, "redis", "", "Redis URL such as redis://localhost:6379/0; empty for the in-memory backend")
	flag.IntVar(&cfg.n, "n", 10000, "how many tasks")
	flag.IntVar(&cfg.concurrency, "c", 8, "handlers at once")
	flag.IntVar(&cfg.batch, "batch", 10, "tasks leased per fetch")
	flag.BoolVar(&cfg.keep, "keep", false, "on Redis, keep the namespace's keys instead of deleting them at the end")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		log.Fatal(err)
	}
}

// freshNamespace returns the name of a namespace of this program's own.
var freshNamespace = func() string {
	return "example-validation-" + strconv.FormatUint(rand.Uint64(), 36)
}

// open returns the in-memory backend, or the Redis one when url is set, and the
// function that closes it. On Redis that function first deletes every key of
// namespace ns, unless keep is set, so that a run leaves nothing behind.
func open(url, ns string, keep bool) (backend.Backend, func() error, error) {
	if url == "" {
		b := memory.New()
		return b, b.Close, nil
	}
	b, err := redisbackend.OpenURL(context.Background(), url, redisbackend.Options{})
	if err != nil {
		return nil, nil, err
	}
	return b, func() error {
		if keep {
			log.Printf("kept namespace %q on Redis", ns)
			return b.Close()
		}
		_, err := b.DropNamespace(context.Background(), ns)
		return errors.Join(err, b.Close())
	}, nil
}

func run(ctx context.Context, out io.Writer, cfg config) (err error) {
	ns := freshNamespace()
	b, closeBackend, err := open(cfg.redisURL, ns, cfg.keep)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeBackend()) }()
	q, err := keyq.New(b, ns, keyq.Queues("data_queue"))
	if err != nil {
		return err
	}
	// insert_data: the numbers 0 to n-1.
	msgs := make([]keyq.Message, cfg.n)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: []byte(strconv.Itoa(i))}
	}
	if _, err := q.EnqueueBatch(ctx, "data_queue", msgs); err != nil {
		return err
	}

	// consumer: every second delivery fails and is put back. It is counted per task
	// (the first delivery of each fails): a count over all deliveries, as a single
	// consumer could keep, can line up with batches and concurrency and fail the
	// same task again and again until its attempts run out.
	var deliveries atomic.Int64
	var mu sync.Mutex
	results := make([]int, cfg.n) // how often each number was written to the "log"
	allDone := make(chan struct{})
	var answered atomic.Int64
	// A failed task goes back to the head of the queue at once, not after the
	// default backoff: the run checks requeueing, not waiting.
	w, err := keyq.NewWorker(q, keyq.WorkerConfig{Concurrency: cfg.concurrency, Batch: cfg.batch},
		keyq.WorkerConfig{Backoff: keyq.ImmediateBackoff},
		keyq.WorkerConfig{OnDone: func(_ *keyq.Task, o keyq.Outcome, _ error) {
			if o == keyq.OutcomeFinished && answered.Add(1) == int64(cfg.n) {
				close(allDone)
			}
		}},
	)
	if err != nil {
		return err
	}
	w.HandleFunc("", func(_ context.Context, t *keyq.Task) (any, error) {
		deliveries.Add(1)
		if t.Attempt%2 == 0 {
			return nil, fmt.Errorf("failure: %s", t.Payload)
		}
		v, err := strconv.Atoi(string(t.Payload))
		if err != nil {
			return nil, keyq.Final(err)
		}
		mu.Lock()
		results[v]++
		mu.Unlock()
		return v, nil
	})
	began := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	if cfg.n > 0 {
		select {
		case <-allDone:
		case <-ctx.Done():
			_ = w.Shutdown(context.Background())
			st, _ := q.Stats(context.Background())
			return fmt.Errorf("error: %d of %d tasks answered: %w (worker %+v, backend %+v)", answered.Load(), cfg.n, ctx.Err(), w.Stats(), st)
		}
	}
	elapsed := time.Since(began)
	if err := w.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-stopped; err != nil {
		return err
	}

	// validation: every number exactly once, each with its answer.
	mu.Lock()
	defer mu.Unlock()
	for i, c := range results {
		if c != 1 {
			return fmt.Errorf("error: %d came out %d times", i, c)
		}
	}
	for i := range cfg.n {
		a, err := q.Answer(ctx, strconv.Itoa(i))
		var v int
		if err != nil || a.Decode(&v) != nil || v != i {
			return fmt.Errorf("error: answer of %d is %s (%v)", i, a.Value, err)
		}
	}
	n, err := q.Len(ctx, "data_queue")
	if err != nil {
		return err
	}
	st := w.Stats()
	fmt.Fprintf(out, "%d tasks, %d deliveries, %d put back, %d left in the queue\n", cfg.n, deliveries.Load(), st.Retried, n)
	fmt.Fprintln(out, "success")
	log.Printf("%d tasks in %v (%.0f tasks/s)", cfg.n, elapsed.Round(time.Millisecond), float64(cfg.n)/elapsed.Seconds())
	return nil
}
