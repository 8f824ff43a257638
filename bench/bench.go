// Package bench runs keyq through the same workloads on every backend, so their
// numbers can be put side by side.
//
// A workload is a function taking a context, a Target (a backend and how to
// measure its memory) and a Config, and returning a Result. The keyq command runs
// them ("keyq bench"), and the Benchmark functions of this package run them under
// go test as sub-benchmarks named driver=memory, driver=miniredis and
// driver=redis, so that
//
//	go test -run '^$' -bench . ./bench | benchstat -col /driver -
//
// compares the backends. The peer comparison (asynq, raw go-redis) lives in the
// separate module bench/peers and prints the same Result rows.
//
// The workloads:
//
//   - enqueue: producers append tasks (in batches of Config.Batch), nobody consumes.
//   - cycle: producers enqueue while workers dequeue (in batches), run a handler and
//     ack each task with its answer. The workers drive the Client directly
//     (Dequeue, handler, Ack with WithAnswer), not the keyq.Worker runtime.
//   - worker: the cycle again, with keyq.Worker running the handler (concurrency
//     Config.Workers, dequeue batch Config.Batch) instead of the workload's own loop.
//   - wakeup: one consumer waits in Dequeue with Wait; after an idle gap a producer
//     enqueues one task; the latency is from the start of Enqueue to the return of
//     Dequeue (S3.4). p50 and p99 over Config.Samples rounds.
//   - dedupe: every queued task's key already has an answer; the timed part is the
//     dequeue calls that drop them (S3.2).
//   - memory: the growth of the store per queued task: the Go heap for in-process
//     stores, INFO used_memory (and MEMORY USAGE of the namespace's keys) on a
//     Redis server.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// Workload names, as they appear in results.
const (
	Enqueue = "enqueue"
	Cycle   = "cycle"
	Wakeup  = "wakeup"
	Dedupe  = "dedupe"
	Memory  = "memory"
	Worker  = "worker"
)

// Workloads lists every workload in the order keyq bench runs them.
// Memory goes first, so that no earlier workload's data shrinks while it measures.
var Workloads = []string{Memory, Enqueue, Cycle, Worker, Wakeup, Dedupe}

// Config sizes a workload. The zero value of a field means its default.
type Config struct {
	Tasks     int // tasks per workload; default 10000
	Payload   int // payload bytes per task; default 64, negative for empty payloads
	Producers int // goroutines enqueueing; default 1
	Workers   int // goroutines dequeueing; default 4
	Batch     int // tasks per enqueue and per dequeue call; default 1
	Samples   int // rounds of the wakeup workload; default 200
	// Idle is how long the wakeup consumer has been waiting before the task is
	// enqueued; default 2ms.
	Idle time.Duration
	// NoJobs switches job records off (keyq.JobTracking(false), S6.4): one write
	// less per state change.
	NoJobs bool
	// Progress, when set, is called with the number of tasks just finished. It
	// must be safe for concurrent use.
	Progress func(n int)
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Tasks, 10000)
	if c.Payload < 0 {
		c.Payload = 0
	} else if c.Payload == 0 {
		c.Payload = 64
	}
	def(&c.Producers, 1)
	def(&c.Workers, 4)
	def(&c.Batch, 1)
	def(&c.Samples, 200)
	if c.Idle <= 0 {
		c.Idle = 2 * time.Millisecond
	}
	return c
}

func (c Config) progress(n int) {
	if c.Progress != nil && n > 0 {
		c.Progress(n)
	}
}

// Result is one line of output: a workload on a backend.
type Result struct {
	Backend   string  `json:"backend"`
	Workload  string  `json:"workload"`
	Tasks     int     `json:"tasks"`
	Seconds   float64 `json:"seconds"`
	TasksPerS float64 `json:"tasks_per_s"`
	// P50ms, P99ms and BytesPerTask are zero when the workload does not measure
	// them; JSON writes them as null then.
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	BytesPerTask float64 `json:"bytes_per_task"`
	// KeyBytesPerTask is MEMORY USAGE summed over the keys of the memory
	// workload, per task; Redis only.
	KeyBytesPerTask float64 `json:"key_bytes_per_task,omitempty"`
	Producers       int     `json:"producers"`
	Workers         int     `json:"workers"`
	Batch           int     `json:"batch"`
	Payload         int     `json:"payload"`
	Jobs            bool    `json:"jobs"`
	Note            string  `json:"note,omitempty"`
	// Cost is the workload's cost per task, where it was measured (bench/peers).
	Cost *Cost `json:"cost,omitempty"`
}

func newResult(t *Target, workload string, c Config, n int, d time.Duration) Result {
	r := Result{
		Backend: t.Name, Workload: workload, Tasks: n, Seconds: d.Seconds(),
		Producers: c.Producers, Workers: c.Workers, Batch: c.Batch, Payload: c.Payload,
		Jobs: !c.NoJobs,
	}
	if d > 0 {
		r.TasksPerS = float64(n) / d.Seconds()
	}
	return r
}

// Run runs the named workload on t.
func Run(ctx context.Context, workload string, t *Target, c Config) (Result, error) {
	switch workload {
	case Enqueue:
		return RunEnqueue(ctx, t, c)
	case Cycle:
		return RunCycle(ctx, t, c)
	case Worker:
		return RunWorker(ctx, t, c)
	case Wakeup:
		return RunWakeup(ctx, t, c)
	case Dedupe:
		return RunDedupe(ctx, t, c)
	case Memory:
		return RunMemory(ctx, t, c)
	}
	return Result{}, fmt.Errorf("bench: unknown workload %q (want one of %v)", workload, Workloads)
}

// OpTimeout bounds each call the workloads make: only a hang, not a slow machine,
// may end a run (a slow run is a slow figure). The caller's ctx bounds the run.
const OpTimeout = 10 * time.Minute

// client returns a client on a namespace of its own for one workload run.
func (t *Target) client(workload string, c Config) (*keyq.Client, error) {
	ns := "bench-" + workload + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(rand.IntN(1<<20))
	t.mu.Lock()
	t.namespaces = append(t.namespaces, ns)
	t.mu.Unlock()
	return keyq.New(t.Backend, ns,
		keyq.Queues(benchQueue),
		keyq.AnswerTTL(time.Hour, time.Hour),
		keyq.OpTimeout(OpTimeout),
		keyq.JobTracking(!c.NoJobs))
}

const benchQueue = "q"

// Payloads makes n distinct payloads of size bytes each, with their keys: the
// payload itself (as keyq's default), or, for payloads too short to be unique, a
// key of their own.
func Payloads(n, size int) []keyq.Message {
	msgs := make([]keyq.Message, n)
	for i := range msgs {
		id := strconv.Itoa(i)
		p := make([]byte, size)
		for j := range p {
			p[j] = 'x'
		}
		copy(p, id)
		msgs[i].Payload = p
		if size < 20 {
			msgs[i].Key = "k" + id
		}
	}
	return msgs
}

// split cuts msgs into shares for n producers and calls f for each share in its
// own goroutine; it returns the first error.
func split(ctx context.Context, msgs []keyq.Message, n int, f func(ctx context.Context, share []keyq.Message) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	per := (len(msgs) + n - 1) / n
	for i := range n {
		lo, hi := min(i*per, len(msgs)), min((i+1)*per, len(msgs))
		wg.Go(func() { errs[i] = f(ctx, msgs[lo:hi]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// produce enqueues share in batches of c.Batch, recording each call's duration in
// lat when it is not nil.
func produce(ctx context.Context, q *keyq.Client, c Config, share []keyq.Message, lat *[]time.Duration) error {
	for len(share) > 0 {
		k := min(c.Batch, len(share))
		start := time.Now()
		var err error
		if k == 1 {
			m := share[0]
			_, err = q.Enqueue(ctx, benchQueue, m.Payload, keyq.Key(m.Key), keyq.Type(m.Type))
		} else {
			_, err = q.EnqueueBatch(ctx, benchQueue, share[:k])
		}
		if err != nil {
			return err
		}
		if lat != nil {
			*lat = append(*lat, time.Since(start))
		}
		c.progress(k)
		share = share[k:]
	}
	return nil
}

// RunEnqueue measures producers appending c.Tasks tasks; p50 and p99 are of one
// enqueue call (of c.Batch tasks).
func RunEnqueue(ctx context.Context, t *Target, c Config) (Result, error) {
	c = c.WithDefaults()
	q, err := t.client(Enqueue, c)
	if err != nil {
		return Result{}, err
	}
	msgs := Payloads(c.Tasks, c.Payload)
	lats := make([][]time.Duration, c.Producers)
	var next atomic.Int32
	start := time.Now()
	err = split(ctx, msgs, c.Producers, func(ctx context.Context, share []keyq.Message) error {
		i := next.Add(1) - 1
		return produce(ctx, q, c, share, &lats[i])
	})
	d := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	if n, err := q.Len(ctx, benchQueue); err != nil {
		return Result{}, err
	} else if n != c.Tasks {
		return Result{}, fmt.Errorf("bench: enqueue: %d tasks waiting after enqueueing %d", n, c.Tasks)
	}
	r := newResult(t, Enqueue, c, c.Tasks, d)
	r.P50ms, r.P99ms = percentiles(slices.Concat(lats...))
	return r, nil
}

// Handler is the work of the cycle workload: it makes the answer of a task.
func Handler(payload []byte) []byte {
	out := make([]byte, 0, 16)
	out = append(out, `{"n":`...)
	out = strconv.AppendInt(out, int64(len(payload)), 10)
	return append(out, '}')
}

// RunCycle measures the full cycle: producers enqueue c.Tasks tasks while workers
// dequeue them, run Handler and ack each with its answer. It drives the Client
// directly, not keyq.Worker. It ends when every task is acked, and checks that
// every answer is stored.
func RunCycle(ctx context.Context, t *Target, c Config) (Result, error) {
	c = c.WithDefaults()
	q, err := t.client(Cycle, c)
	if err != nil {
		return Result{}, err
	}
	msgs := Payloads(c.Tasks, c.Payload)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var acked atomic.Int64
	total := int64(c.Tasks)
	allDone := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range c.Workers {
		wg.Go(func() {
			for acked.Load() < total {
				ls, err := q.Dequeue(ctx, keyq.Batch(c.Batch), keyq.Wait(50*time.Millisecond))
				if err != nil {
					cancel(err)
					return
				}
				if len(ls) == 0 {
					continue
				}
				// Every lease is acked with its answer, in one AckBatch call (one
				// round trip on Redis) when the batch holds more than one.
				reqs := make([]keyq.AckRequest, len(ls))
				for i := range ls {
					reqs[i] = keyq.AckRequest{Lease: &ls[i], Opts: []keyq.AckOption{keyq.WithAnswer(json.RawMessage(Handler(ls[i].Payload)))}}
				}
				var errs []error
				if len(reqs) == 1 {
					errs = []error{q.Ack(ctx, reqs[0].Lease, reqs[0].Opts...)}
				} else if errs, err = q.AckBatch(ctx, reqs); err != nil {
					cancel(err)
					return
				}
				for _, err := range errs {
					if err != nil {
						cancel(err)
						return
					}
				}
				c.progress(len(ls))
				if acked.Add(int64(len(ls))) == total {
					close(allDone)
				}
			}
		})
	}
	pc := c
	pc.Progress = nil // progress counts acks
	perr := split(ctx, msgs, c.Producers, func(ctx context.Context, share []keyq.Message) error {
		return produce(ctx, q, pc, share, nil)
	})
	if perr != nil {
		cancel(perr)
	}
	select {
	case <-allDone:
	case <-ctx.Done():
	}
	d := time.Since(start)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return Result{}, fmt.Errorf("bench: cycle: %w", err)
	}
	// Every answer is there: the last and a middle one are enough to catch a
	// workload that acks without answers.
	for _, i := range []int{0, c.Tasks / 2, c.Tasks - 1} {
		key := msgs[i].Key
		if key == "" {
			key = string(msgs[i].Payload)
		}
		if ok, err := q.Exists(ctx, key); err != nil || !ok {
			return Result{}, fmt.Errorf("bench: cycle: task %d has no answer (err %v)", i, err)
		}
	}
	r := newResult(t, Cycle, c, c.Tasks, d)
	r.Note = "Client: dequeue, handler, ack+answer"
	return r, nil
}

// RunWorker measures the full cycle through keyq.Worker: producers enqueue
// c.Tasks tasks of type "bench" while a worker with concurrency c.Workers and
// dequeue batch c.Batch runs Handler on each and acks it with the answer. It ends
// when the worker has shut down after the last handler, so the last acks are in.
func RunWorker(ctx context.Context, t *Target, c Config) (Result, error) {
	c = c.WithDefaults()
	q, err := t.client(Worker, c)
	if err != nil {
		return Result{}, err
	}
	msgs := Payloads(c.Tasks, c.Payload)
	for i := range msgs {
		msgs[i].Type = "bench"
	}
	w, err := keyq.NewWorker(q, keyq.WorkerConfig{Concurrency: c.Workers, Batch: c.Batch})
	if err != nil {
		return Result{}, err
	}
	var handled atomic.Int64
	total := int64(c.Tasks)
	allDone := make(chan struct{})
	w.HandleFunc("bench", func(ctx context.Context, t *keyq.Task) (any, error) {
		ans := json.RawMessage(Handler(t.Payload))
		if handled.Add(1) == total {
			close(allDone)
		}
		c.progress(1)
		return ans, nil
	})
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx) }()
	pc := c
	pc.Progress = nil // progress counts handled tasks
	perr := split(ctx, msgs, c.Producers, func(ctx context.Context, share []keyq.Message) error {
		return produce(ctx, q, pc, share, nil)
	})
	if perr == nil {
		select {
		case <-allDone:
		case err := <-runErr:
			perr = fmt.Errorf("worker stopped after %d of %d tasks: %v", handled.Load(), total, err)
		case <-ctx.Done():
			perr = context.Cause(ctx)
		}
	}
	serr := w.Shutdown(ctx)
	d := time.Since(start)
	if perr != nil {
		return Result{}, fmt.Errorf("bench: worker: %w", perr)
	}
	if serr != nil {
		return Result{}, fmt.Errorf("bench: worker shutdown: %w", serr)
	}
	if err := <-runErr; err != nil {
		return Result{}, fmt.Errorf("bench: worker: %w", err)
	}
	if st := w.Stats(); st.Processed != total {
		return Result{}, fmt.Errorf("bench: worker: %d of %d tasks processed (%+v)", st.Processed, total, st)
	}
	key := msgs[c.Tasks-1].Key
	if key == "" {
		key = string(msgs[c.Tasks-1].Payload)
	}
	if ok, err := q.Exists(ctx, key); err != nil || !ok {
		return Result{}, fmt.Errorf("bench: worker: the last task has no answer (err %v)", err)
	}
	r := newResult(t, Worker, c, c.Tasks, d)
	r.Note = "keyq.Worker"
	return r, nil
}

// RunWakeup measures how long a task enqueued while a consumer waits takes to reach
// it (S3.4): c.Samples rounds, each with one consumer that has been waiting for
// c.Idle. Tasks/s is rounds per second of the whole run, idle gaps included.
func RunWakeup(ctx context.Context, t *Target, c Config) (Result, error) {
	c = c.WithDefaults()
	q, err := t.client(Wakeup, c)
	if err != nil {
		return Result{}, err
	}
	type delivery struct {
		at  time.Time
		err error
	}
	waiting := make(chan struct{})
	got := make(chan delivery)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for range c.Samples {
			select {
			case waiting <- struct{}{}:
			case <-ctx.Done():
				return
			}
			l, err := q.Next(ctx, keyq.Wait(OpTimeout))
			d := delivery{at: time.Now(), err: err}
			if err == nil && l == nil {
				d.err = fmt.Errorf("no task within %v of its enqueue", OpTimeout)
			}
			if d.err == nil {
				d.err = q.Ack(ctx, l)
			}
			select {
			case got <- d:
			case <-ctx.Done():
				return
			}
		}
	}()
	lats := make([]time.Duration, 0, c.Samples)
	payload := make([]byte, c.Payload)
	start := time.Now()
	for i := range c.Samples {
		<-waiting
		// The consumer is about to wait; the idle gap makes sure it waits.
		time.Sleep(c.Idle)
		sent := time.Now()
		if _, err := q.Enqueue(ctx, benchQueue, payload, keyq.Key("w"+strconv.Itoa(i))); err != nil {
			return Result{}, err
		}
		d := <-got
		if d.err != nil {
			return Result{}, fmt.Errorf("bench: wakeup: %w", d.err)
		}
		lats = append(lats, d.at.Sub(sent))
		c.progress(1)
	}
	r := newResult(t, Wakeup, c, c.Samples, time.Since(start))
	r.P50ms, r.P99ms = percentiles(lats)
	r.Producers, r.Workers, r.Batch = 1, 1, 1
	r.Note = "enqueue to delivery, idle " + c.Idle.String()
	return r, nil
}

// RunDedupe measures dequeue calls that drop tasks whose key already has an answer
// (S3.2): c.Tasks answered tasks are queued first, untimed; then c.Workers
// consumers dequeue (in batches of c.Batch) until the queue is empty. It checks
// that none was delivered and the namespace counted every drop.
func RunDedupe(ctx context.Context, t *Target, c Config) (Result, error) {
	c = c.WithDefaults()
	q, err := t.client(Dedupe, c)
	if err != nil {
		return Result{}, err
	}
	msgs := Payloads(c.Tasks, c.Payload)
	// Every task waits for the one answer key "done": one SetAnswer covers them all,
	// so the setup stays cheap on slow stores.
	if err := q.SetAnswer(ctx, "done", "cached"); err != nil {
		return Result{}, err
	}
	for i := range msgs {
		msgs[i].Key = "done"
	}
	setup := c
	setup.Batch = max(c.Batch, 100)
	setup.Progress = nil
	if err := produce(ctx, q, setup, msgs, nil); err != nil {
		return Result{}, err
	}
	var delivered atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, c.Workers)
	start := time.Now()
	for w := range c.Workers {
		wg.Go(func() {
			for {
				ls, err := q.Dequeue(ctx, keyq.Batch(c.Batch))
				if err != nil {
					errs[w] = err
					return
				}
				delivered.Add(int64(len(ls)))
				if len(ls) > 0 {
					continue
				}
				n, err := q.Len(ctx, benchQueue)
				if err != nil {
					errs[w] = err
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	st, err := q.Stats(ctx)
	if err != nil {
		return Result{}, err
	}
	if delivered.Load() != 0 || st.Counters.Deduped != int64(c.Tasks) {
		return Result{}, fmt.Errorf("bench: dedupe: %d of %d answered tasks delivered, %d counted as deduped",
			delivered.Load(), c.Tasks, st.Counters.Deduped)
	}
	c.progress(c.Tasks)
	r := newResult(t, Dedupe, c, c.Tasks, d)
	r.Note = "answered tasks dropped"
	return r, nil
}

// RunMemory measures how much the store grows per queued task: c.Producers
// goroutines enqueue c.Tasks tasks in batches of c.Batch and leave them waiting.
// In-process stores are measured by the Go heap after a GC, a Redis server by INFO
// used_memory; there KeyBytesPerTask also gives the sum of MEMORY USAGE over the
// namespace's keys, which other clients of the server cannot disturb.
func RunMemory(ctx context.Context, t *Target, c Config) (Result, error) {
	c = c.WithDefaults()
	q, err := t.client(Memory, c)
	if err != nil {
		return Result{}, err
	}
	msgs := Payloads(c.Tasks, c.Payload)
	// A first task creates the namespace and warms every path, so the delta is the
	// tasks' own.
	if _, err := q.Enqueue(ctx, benchQueue, []byte("warm-up")); err != nil {
		return Result{}, err
	}
	used, note := t.UsedMemory, "INFO used_memory"
	if used == nil {
		used, note = heapInUse, "Go heap"
	}
	before, err := used(ctx)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	if err := split(ctx, msgs, c.Producers, func(ctx context.Context, share []keyq.Message) error {
		return produce(ctx, q, c, share, nil)
	}); err != nil {
		return Result{}, err
	}
	d := time.Since(start)
	after, err := used(ctx)
	if err != nil {
		return Result{}, err
	}
	runtime.KeepAlive(msgs)
	r := newResult(t, Memory, c, c.Tasks, d)
	r.BytesPerTask = float64(after-before) / float64(c.Tasks)
	r.Note = note
	if t.KeysMemory != nil {
		kb, err := t.KeysMemory(ctx, q.Namespace())
		if err != nil {
			return Result{}, err
		}
		r.KeyBytesPerTask = float64(kb) / float64(c.Tasks)
		r.Note += fmt.Sprintf("; keys %.0f B/task", r.KeyBytesPerTask)
	}
	return r, nil
}

// heapInUse returns the live Go heap after a full collection.
func heapInUse(context.Context) (int64, error) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), nil
}

// percentiles returns the 50th and 99th percentiles of d in milliseconds, by the
// nearest-rank method.
func percentiles(d []time.Duration) (p50, p99 float64) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		i = min(max(i, 0), len(s)-1)
		return float64(s[i]) / float64(time.Millisecond)
	}
	return rank(0.50), rank(0.99)
}

// Percentiles returns the 50th and 99th percentiles of d in milliseconds, for
// workloads written outside this package (bench/peers).
func Percentiles(d []time.Duration) (p50, p99 float64) { return percentiles(d) }

// Target is a backend under test.
type Target struct {
	Name    string // memory, miniredis or redis
	Backend backend.Backend
	// UsedMemory returns the store's memory in bytes; nil means the Go heap.
	UsedMemory func(ctx context.Context) (int64, error)
	// KeysMemory returns the bytes a namespace's keys take in the store, or nil.
	KeysMemory func(ctx context.Context, namespace string) (int64, error)
	// Redis is the client of a real server (OpenRedis), nil otherwise.
	Redis   *redis.Client
	cleanup []func(ctx context.Context, namespaces []string) error

	mu         sync.Mutex
	namespaces []string // created by the workloads, for Close to delete
}

// Close deletes what the workloads stored and closes the backend.
func (t *Target) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.mu.Lock()
	ns := t.namespaces
	t.mu.Unlock()
	var errs []error
	for _, f := range slices.Backward(t.cleanup) {
		errs = append(errs, f(ctx, ns))
	}
	errs = append(errs, t.Backend.Close())
	return errors.Join(errs...)
}
