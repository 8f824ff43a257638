package keyq_test

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/internal/redistest"
)

// crashEnv carries "redis URL namespace" to a worker helper process.
const crashEnv = "KEYQ_WORKER_CRASH_HELPER"

const crashLease = 500 * time.Millisecond

// TestWorkerCrashHelper is not a test: TestWorkerCrash runs the test binary again
// with crashEnv set, and then this runs a worker until the process is killed, its
// stdin closes (the parent died) or five minutes pass.
func TestWorkerCrashHelper(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("the worker process of TestWorkerCrash; runs only when started by it")
	}
	url, ns, _ := strings.Cut(spec, " ")
	b := newRedisBackend(t, url)
	c, err := keyq.New(b, ns, keyq.Queues(q))
	if err != nil {
		t.Fatal(err)
	}
	w := mustWorker(t, c, keyq.WorkerConfig{Concurrency: 4, Batch: 4, Lease: crashLease},
		keyq.WorkerConfig{PollWait: 100 * time.Millisecond})
	w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
		i, err := strconv.Atoi(string(task.Payload))
		if err != nil {
			return nil, keyq.Final(err)
		}
		select { // a little work, so that kills land in the middle of it
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return i * 3, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWorkerCrash runs worker processes against a real Redis server while 5,000
// tasks flow, kills them with SIGKILL at random moments, starts replacements, and
// checks in the end that every task has its answer and none is lost (S10.1).
func TestWorkerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes for several seconds")
	}
	if os.Getenv(crashEnv) != "" {
		t.Skip("inside a helper process")
	}
	const n, procs, maxKills = 5000, 3, 12
	url := redistest.URL(t)
	ns := namespace(t)
	c, err := keyq.New(newRedisBackend(t, url), ns, keyq.Queues(q))
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]keyq.Message, n)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: []byte(strconv.Itoa(i))}
	}
	if _, err := c.EnqueueBatch(context.Background(), q, msgs); err != nil {
		t.Fatal(err)
	}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("random seed %d", seed)

	type proc struct {
		cmd   *exec.Cmd
		stdin io.Closer
	}
	spawn := func() proc {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerCrashHelper$", "-test.count=1", "-test.timeout=6m")
		cmd.Env = append(os.Environ(), crashEnv+"="+url+" "+ns)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return proc{cmd, in}
	}
	running := make([]proc, procs)
	for i := range running {
		running[i] = spawn()
	}
	t.Cleanup(func() {
		for _, p := range running {
			_ = p.cmd.Process.Kill()
			_ = p.stdin.Close()
			_ = p.cmd.Wait()
		}
	})

	began := time.Now()
	deadline := time.After(3 * time.Minute) // a bound on a hang only
	kills := 0
	for {
		select {
		case <-deadline:
			st, _ := c.Stats(context.Background(), q)
			t.Fatalf("not every task was answered within 3 minutes: %+v", st)
		case <-time.After(time.Duration(20+rng.IntN(180)) * time.Millisecond): // a random moment
		}
		st, err := c.Stats(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if st.Counters.Acked >= n {
			break
		}
		if kills < maxKills && st.Counters.Delivered > 0 {
			i := rng.IntN(procs)
			p := running[i]
			if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			_ = p.cmd.Wait()
			_ = p.stdin.Close()
			kills++
			running[i] = spawn()
		}
	}
	elapsed := time.Since(began)

	for i := range n {
		a, err := c.Answer(context.Background(), strconv.Itoa(i))
		var v int
		if err != nil || !a.OK || a.Decode(&v) != nil || v != i*3 {
			t.Fatalf("answer of task %d: %s ok=%v err=%v, want %d", i, a.Value, a.OK, err, i*3)
		}
	}
	st, err := c.Stats(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	qs := st.Queues[q]
	if qs.Waiting+qs.Leased+qs.Delayed+qs.Dead != 0 || st.Counters.Acked != n || st.Counters.Dead != 0 {
		t.Fatalf("queue %+v, counters %+v; want it empty, %d acks, none dead", qs, st.Counters, n)
	}
	t.Logf("%d tasks through %d worker processes, %d killed with SIGKILL, in %v: %d redelivered (%d leases reclaimed after a kill, %d deliveries in all)",
		n, procs, kills, elapsed.Round(time.Millisecond), st.Counters.Delivered-int64(n), st.Counters.Reclaimed, st.Counters.Delivered)
	if kills == 0 {
		t.Fatal("no worker was killed; the test proved nothing")
	}
}

// TestWorkerRedisRestart restarts the Redis server (kept on disk with appendfsync
// always) while a worker handles tasks: the worker backs off while the store is
// unreachable, goes on after the restart, and every task ends answered (S10.1).
func TestWorkerRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a server")
	}
	if os.Getenv(crashEnv) != "" {
		t.Skip("inside a helper process")
	}
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	url := "redis://" + srv.Addr
	c, err := keyq.New(newRedisBackend(t, url), namespace(t), keyq.Queues(q), keyq.OpTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	msgs := make([]keyq.Message, n)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: []byte(strconv.Itoa(i))}
	}
	if _, err := c.EnqueueBatch(context.Background(), q, msgs); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	w := mustWorker(t, c, rec.option(), keyq.WorkerConfig{Concurrency: 4, Batch: 4, Lease: time.Second},
		keyq.WorkerConfig{PollWait: 100 * time.Millisecond})
	w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
		select { // some work, so that the restart lands in the middle of the run
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return string(task.Payload), nil
	})
	start(t, w)
	finished := 0
	for finished < n/4 {
		if rec.next(t).o == keyq.OutcomeFinished {
			finished++
		}
	}
	srv.Restart(t)
	began := time.Now()
	ctx := bounded(t)
	for {
		st, err := c.Stats(ctx, q)
		if err == nil && st.Counters.Acked >= n {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not every task was answered after the restart: %+v, %v; worker %+v", st, err, w.Stats())
		case <-time.After(50 * time.Millisecond): // poll the store's counters
		}
	}
	for i := range n {
		if ok, err := c.Exists(context.Background(), strconv.Itoa(i)); err != nil || !ok {
			t.Fatalf("task %d has no answer (%v)", i, err)
		}
	}
	st, err := c.Stats(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	qs := st.Queues[q]
	if qs.Waiting+qs.Leased+qs.Delayed+qs.Dead != 0 || st.Counters.Acked != n {
		t.Fatalf("queue %+v, counters %+v; want it empty and %d acks", qs, st.Counters, n)
	}
	ws := w.Stats()
	t.Logf("answered all %d tasks %v after the restart; %d deliveries, %d settle calls failed, %d reclaimed",
		n, time.Since(began).Round(time.Millisecond), st.Counters.Delivered, ws.Errors, st.Counters.Reclaimed)
}
