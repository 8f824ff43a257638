package conformance

import (
	"fmt"
	"sync"

	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S3.6 driver: concurrent Dequeues and Settles hand each task to one lease, once", fn: testDriverConcurrent, driver: true},
	)
}

// testDriverConcurrent lets several goroutines dequeue batches of one namespace
// at once and ack them, until it is empty: every task is delivered exactly once,
// and every ack is done.
func testDriverConcurrent(e *env) {
	h := e.handle()
	const tasks, workers = 200, 8
	var payloads []string
	for i := range tasks {
		payloads = append(payloads, fmt.Sprint("t", i))
	}
	ids := e.put(h, backend.EnqueueParams{Queue: "q"}, payloads...)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				r, err := h.Dequeue(e.ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1 + w%4, Lease: e.u(100)})
				if err != nil {
					e.Errorf("Dequeue: %v", err)
					return
				}
				if len(r.Leases) == 0 {
					return
				}
				items := make([]backend.Settlement, len(r.Leases))
				mu.Lock()
				for i, l := range r.Leases {
					seen[l.ID]++
					items[i] = ack(l)
				}
				mu.Unlock()
				res, err := h.Settle(e.ctx, backend.SettleParams{Items: items})
				if err != nil {
					e.Errorf("Settle: %v", err)
					return
				}
				for i, r := range res {
					if r != backend.SettleDone {
						e.Errorf("ack of a live lease of task %s: %v, want done", items[i].TaskID, r)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if seen[id] != 1 {
			e.Errorf("task %s delivered %d times, want once", id, seen[id])
		}
	}
	if len(seen) != tasks {
		e.Fatalf("%d tasks delivered, want %d", len(seen), tasks)
	}
}
