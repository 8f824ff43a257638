package keyq_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/internal/redistest"
)

// TestWorkerAcrossDataLoss (S4.8): a worker holds leases while its Redis server is
// killed and restarted without persistence; new tasks then take the same numbers
// the old ones had. When the old handlers finish, their acks must not land on the
// new tasks: every new task ends with its own answer (issue 12, item 1).
func TestWorkerAcrossDataLoss(t *testing.T) {
	srv := redistest.Start(t) // no persistence: a restart loses everything
	c, err := keyq.New(newRedisBackend(t, "redis://"+srv.Addr), namespace(t), keyq.Queues(q))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	enqueue := func(life string) {
		t.Helper()
		msgs := make([]keyq.Message, n)
		for i := range msgs {
			msgs[i] = keyq.Message{Payload: fmt.Appendf(nil, "%s-%d", life, i)}
		}
		var err error
		for ctx.Err() == nil { // the server may still be coming back
			if _, err = c.EnqueueBatch(ctx, q, msgs); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond) // retry pacing while the server restarts
		}
		t.Fatalf("enqueue %s tasks: %v", life, err)
	}

	started := map[string]chan struct{}{"old": make(chan struct{}, n), "new": make(chan struct{}, n)}
	finish := map[string]chan struct{}{"old": make(chan struct{}), "new": make(chan struct{})}
	var mu sync.Mutex
	settled := map[string]int{}
	allSettled := map[string]chan struct{}{"old": make(chan struct{}), "new": make(chan struct{})}
	w := mustWorker(t, c, keyq.WorkerConfig{Concurrency: 2 * n, Batch: n, Lease: time.Minute},
		keyq.WorkerConfig{PollWait: 50 * time.Millisecond},
		keyq.WorkerConfig{OnDone: func(task *keyq.Task, o keyq.Outcome, err error) {
			life, _, _ := strings.Cut(string(task.Payload), "-")
			mu.Lock()
			defer mu.Unlock()
			if settled[life]++; settled[life] == n {
				close(allSettled[life])
			}
		}},
	)
	w.HandleFunc("", func(hctx context.Context, task *keyq.Task) (any, error) {
		life, _, _ := strings.Cut(string(task.Payload), "-")
		started[life] <- struct{}{}
		select {
		case <-finish[life]:
		case <-ctx.Done():
		}
		return string(task.Payload), nil
	})
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()

	wait := func(what string, c <-chan struct{}, count int) {
		t.Helper()
		for range count {
			select {
			case <-c:
			case <-ctx.Done():
				t.Fatalf("hung waiting for %s", what)
			}
		}
	}
	enqueue("old")
	wait("the old tasks' handlers to start", started["old"], n)
	srv.Restart(t)
	enqueue("new")
	wait("the new tasks' handlers to start", started["new"], n)
	close(finish["old"]) // the old handlers answer while the new tasks are leased
	wait("the old tasks to settle", allSettled["old"], 1)
	close(finish["new"])
	wait("the new tasks to settle", allSettled["new"], 1)
	cancel()
	<-stopped

	actx, acancel := context.WithTimeout(context.Background(), waitFor)
	defer acancel()
	for i := range n {
		key := fmt.Sprintf("new-%d", i)
		a, err := c.Answer(actx, key)
		if err != nil {
			t.Errorf("task %s: no answer: %v", key, err)
			continue
		}
		var got string
		if err := a.Decode(&got); err != nil || got != key {
			t.Errorf("task %s has answer %q (%v), want its own", key, got, err)
		}
	}
}
