// Command jobs is an RQ-style job queue on keyq: jobs name their function by type,
// the worker finds the handler by that name, runs it under a timeout, and every job
// keeps a record whose status moves from pending to running to finished, failed,
// timeout or dead, readable by job ID.
//
//	go run ./examples/jobs                                # in-memory backend
//	go run ./examples/jobs -redis redis://localhost:6379/0
//
// On Redis it works in a fresh namespace, example-jobs-<random>, and deletes the
// namespace's keys when it ends, unless -keep is given (then it prints the
// namespace's name, for keyq stats and friends).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
)

type config struct {
	redisURL string
	timeout  time.Duration // how long one job may run
	keep     bool          // on Redis, keep the namespace's keys at the end
}

func main() {
	var cfg config
	flag.StringVar(&cfg.redisURL, "redis", "", "Redis URL such as redis://localhost:6379/0; empty for the in-memory backend")
	flag.DurationVar(&cfg.timeout, "timeout", 100*time.Millisecond, "how long one job may run")
	flag.BoolVar(&cfg.keep, "keep", false, "on Redis, keep the namespace's keys instead of deleting them at the end")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		log.Fatal(err)
	}
}

// freshNamespace returns the name of a namespace of this program's own.
var freshNamespace = func() string {
	return "example-jobs-" + strconv.FormatUint(rand.Uint64(), 36)
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

func decode[T any](raw json.RawMessage) (T, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

// register adds the job functions: each is found by the job's type, as RQ finds a
// function by its dotted name.
func register(w *keyq.Worker) {
	w.HandleFunc("math.add", func(_ context.Context, t *keyq.Task) (any, error) {
		var a []int
		if err := json.Unmarshal(t.Payload, &a); err != nil {
			return nil, keyq.Final(err)
		}
		sum := 0
		for _, n := range a {
			sum += n
		}
		return sum, nil
	})
	w.HandleFunc("math.divide", func(_ context.Context, t *keyq.Task) (any, error) {
		var a [2]int
		if err := json.Unmarshal(t.Payload, &a); err != nil {
			return nil, keyq.Final(err)
		}
		if a[1] == 0 {
			return nil, keyq.Final(errors.New("division by zero"))
		}
		return a[0] / a[1], nil
	})
	w.HandleFunc("text.upper", func(_ context.Context, t *keyq.Task) (any, error) {
		s, err := decode[string](t.Payload)
		if err != nil {
			return nil, keyq.Final(err)
		}
		return strings.ToUpper(s), nil
	})
	w.HandleFunc("net.fetch", func(ctx context.Context, t *keyq.Task) (any, error) {
		<-ctx.Done() // the remote end never answers: the worker's timeout ends it
		return nil, ctx.Err()
	})
}

func run(ctx context.Context, out io.Writer, cfg config) (err error) {
	ns := freshNamespace()
	b, closeBackend, err := open(cfg.redisURL, ns, cfg.keep)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeBackend()) }()
	q, err := keyq.New(b, ns, keyq.JobTTL(time.Hour))
	if err != nil {
		return err
	}
	jobs := []struct{ typ, args string }{
		{"math.add", `[2, 3, 4]`},
		{"text.upper", `"keyq"`},
		{"math.divide", `[1, 0]`},
		{"net.fetch", `"https://example.invalid"`},
		{"os.remove", `"/"`},
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		// The payload is the key: give each job its own, so that equal arguments of
		// different functions are different jobs.
		id, err := q.Enqueue(ctx, keyq.DefaultQueue, []byte(j.args), keyq.Type(j.typ), keyq.Key(j.typ+" "+j.args), keyq.MaxAttempts(2))
		if err != nil {
			return err
		}
		ids[i] = id
	}
	for i, id := range ids {
		job, err := q.Job(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "enqueued %-11s %s\n", jobs[i].typ, job.Status)
	}

	// Each job ends finished, failed, timeout or dead.
	ended := make(chan struct{}, len(jobs))
	// As in RQ, a job that runs over its timeout ends with status timeout; without
	// WorkerTimeoutFinal it would be retried like any transient failure.
	w, err := keyq.NewWorker(q, keyq.WorkerConfig{Concurrency: 2, Timeout: cfg.timeout, TimeoutFinal: true},
		keyq.WorkerConfig{OnDone: func(t *keyq.Task, o keyq.Outcome, err error) {
			if o != keyq.OutcomeRetried {
				ended <- struct{}{}
			}
		}},
	)
	if err != nil {
		return err
	}
	register(w)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	for range jobs {
		<-ended
	}
	if err := w.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-stopped; err != nil {
		return err
	}

	for i, id := range ids {
		job, err := q.Job(ctx, id)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("job %-11s %-8s attempts=%d", jobs[i].typ, job.Status, job.Attempts)
		if job.LastError != "" {
			line += fmt.Sprintf(" last_error=%q", job.LastError)
		}
		if a, err := q.Answer(ctx, jobs[i].typ+" "+jobs[i].args); err == nil {
			line += fmt.Sprintf(" answer=%s", a.Value)
		}
		if job.StartedAt.IsZero() || job.EndedAt.Before(job.StartedAt) {
			line += " (times out of order)"
		}
		fmt.Fprintln(out, line)
	}
	st := w.Stats()
	fmt.Fprintf(out, "processed %d, failed %d, retried %d, dead %d, timeouts %d\n", st.Processed, st.Failed, st.Retried, st.Dead, st.Timeouts)
	return nil
}
