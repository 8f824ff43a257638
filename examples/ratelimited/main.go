// Command ratelimited is a dedicated worker in front of a rate-limited API: one
// process takes the tasks other processes queue, waits a fixed interval between
// tasks so the API's limit is never hit, refreshes its credentials when they are
// older than a set period (and retries while that fails), reports the backlog
// before each task, and stops when it receives "exit".
//
//	go run ./examples/ratelimited                         # in-memory backend
//	go run ./examples/ratelimited -redis redis://localhost:6379/0 -shared
//
// With -shared the interval is kept by all workers of the namespace together,
// through the backend, instead of by this process alone.
//
// On Redis it works in a fresh namespace, example-ratelimited-<random>, and deletes
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
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
)

type config struct {
	redisURL string
	interval time.Duration // least time between two calls of the API
	refresh  time.Duration // how old the credentials may get
	shared   bool
	keep     bool // on Redis, keep the namespace's keys at the end
}

func main() {
	var cfg config
	flag.StringVar(&cfg.redisURL, "redis", "", "Redis URL such as redis://localhost:6379/0; empty for the in-memory backend")
	flag.DurationVar(&cfg.interval, "interval", 50*time.Millisecond, "least time between two calls of the API")
	flag.DurationVar(&cfg.refresh, "refresh", 150*time.Millisecond, "refresh the credentials when they are older than this")
	flag.BoolVar(&cfg.shared, "shared", false, "share the interval with every worker of the namespace through the backend")
	flag.BoolVar(&cfg.keep, "keep", false, "on Redis, keep the namespace's keys instead of deleting them at the end")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		log.Fatal(err)
	}
}

// freshNamespace returns the name of a namespace of this program's own.
var freshNamespace = func() string {
	return "example-ratelimited-" + strconv.FormatUint(rand.Uint64(), 36)
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

// commander queues work for the API, as the other processes of the system would:
// three reads, five writes and the request to stop.
func commander(ctx context.Context, q *keyq.Client) error {
	var msgs []keyq.Message
	for range 3 {
		msgs = append(msgs, keyq.Message{Payload: []byte("read")})
	}
	for j := range 5 {
		msgs = append(msgs, keyq.Message{Payload: fmt.Appendf(nil, "write %d times writing!", j)})
	}
	msgs = append(msgs, keyq.Message{Payload: []byte("exit")})
	for i := range msgs {
		msgs[i].Key = fmt.Sprintf("%d %s", i, msgs[i].Payload) // every call is its own task
	}
	_, err := q.EnqueueBatch(ctx, "gs_queues", msgs)
	return err
}

// lockedWriter lets the refresh hook and the handlers print from their goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func run(ctx context.Context, w io.Writer, cfg config) (err error) {
	out := &lockedWriter{w: w}
	ns := freshNamespace()
	b, closeBackend, err := open(cfg.redisURL, ns, cfg.keep)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeBackend()) }()
	q, err := keyq.New(b, ns, keyq.Queues("gs_queues"))
	if err != nil {
		return err
	}
	if err := commander(ctx, q); err != nil {
		return err
	}

	// The credentials: the first refresh fails, as a busy token endpoint would.
	refreshes := 0
	refresh := func(ctx context.Context) error {
		refreshes++
		if refreshes == 1 {
			fmt.Fprintln(out, "Refresh failed: token endpoint busy")
			return errors.New("token endpoint busy")
		}
		fmt.Fprintln(out, "Refresh")
		return nil
	}
	limit := keyq.WorkerConfig{MinInterval: cfg.interval}
	if cfg.shared {
		limit = keyq.WorkerConfig{SharedRate: keyq.SharedRate{Name: "gspread", Interval: cfg.interval, Burst: 1}}
	}
	worker, err := keyq.NewWorker(q, limit,
		keyq.WorkerConfig{Refresh: refresh, RefreshPeriod: cfg.refresh},
		keyq.WorkerConfig{RefreshBackoff: cfg.interval, RefreshBackoffMax: 10 * cfg.interval})
	if err != nil {
		return err
	}
	// The backlog report before each call.
	worker.Use(func(next keyq.Handler) keyq.Handler {
		return keyq.HandlerFunc(func(ctx context.Context, t *keyq.Task) (any, error) {
			backlog, err := worker.Backlog(ctx)
			if err != nil {
				return nil, err
			}
			fmt.Fprintln(out, backlog["gs_queues"].Waiting, "items awaiting.")
			return next.Handle(ctx, t)
		})
	})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	worker.HandleFunc("", func(ctx context.Context, t *keyq.Task) (any, error) {
		if string(t.Payload) == "exit" {
			fmt.Fprintln(out, "Exit!")
			stop() // stop on request: Run finishes what runs, then returns
			return "bye", nil
		}
		fmt.Fprintf(out, "val %s is called.\n", t.Payload)
		return "done", nil
	})

	fmt.Fprintln(out, "Worker stands by...")
	began := time.Now()
	if err := worker.Run(runCtx); err != nil {
		return err
	}
	st := worker.Stats()
	fmt.Fprintln(out, "Done with gspread.")
	fmt.Fprintf(out, "%d calls in %v, %d refreshes, %d failed\n", st.Processed, time.Since(began).Round(10*time.Millisecond), st.Refreshes, st.RefreshFailures)
	return nil
}
