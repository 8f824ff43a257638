package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/memory"
)

// TestBadInput (S1.5, S8.4): every public function given bad input (a nil
// option, context, backend, lease or handler, a duration or size beyond its
// limit) fails with ErrInvalid, does not panic, and changes nothing.
func TestBadInput(t *testing.T) {
	b := memory.New()
	defer b.Close()
	ctx := context.Background()
	q, err := keyq.New(b, "ns")
	if err != nil {
		t.Fatal(err)
	}
	// A live lease for the calls that take one; its task stays leased throughout.
	if _, err := q.Enqueue(ctx, keyq.DefaultQueue, []byte("leased")); err != nil {
		t.Fatal(err)
	}
	l, err := q.Next(ctx)
	if err != nil || l == nil {
		t.Fatalf("Next = %v, %v", l, err)
	}
	before, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nilCtx context.Context
	// A worker that would run despite bad input stops after a while: the test then
	// fails instead of hanging.
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	const huge = time.Duration(math.MaxInt64)
	over := keyq.MaxDuration + time.Millisecond
	newWorker := func(opts ...keyq.WorkerOption) error {
		_, err := keyq.NewWorker(q, opts...)
		return err
	}
	cases := []struct {
		name string
		call func() error
	}{
		{"New nil backend", func() error { _, err := keyq.New(nil, "ns"); return err }},
		{"New typed nil backend", func() error { _, err := keyq.New((*memory.Backend)(nil), "ns"); return err }},
		{"New nil option", func() error { _, err := keyq.New(b, "ns", nil); return err }},
		{"New empty namespace", func() error { _, err := keyq.New(b, ""); return err }},
		{"New lease over max", func() error { _, err := keyq.New(b, "ns", keyq.LeaseFor(over)); return err }},
		{"New answer TTL huge", func() error { _, err := keyq.New(b, "ns", keyq.AnswerTTL(huge, time.Hour)); return err }},
		{"New error TTL huge", func() error { _, err := keyq.New(b, "ns", keyq.AnswerTTL(time.Hour, huge)); return err }},
		{"New job TTL huge", func() error { _, err := keyq.New(b, "ns", keyq.JobTTL(huge)); return err }},
		{"New op timeout huge", func() error { _, err := keyq.New(b, "ns", keyq.OpTimeout(huge)); return err }},

		{"Enqueue nil context", func() error { _, err := q.Enqueue(nilCtx, "q", []byte("x")); return err }},
		{"Enqueue nil option", func() error { _, err := q.Enqueue(ctx, "q", []byte("x"), nil); return err }},
		{"Enqueue negative delay", func() error { _, err := q.Enqueue(ctx, "q", []byte("x"), keyq.Delay(-1)); return err }},
		{"Enqueue delay over max", func() error { _, err := q.Enqueue(ctx, "q", []byte("x"), keyq.Delay(over)); return err }},
		{"Enqueue delay huge", func() error { _, err := q.Enqueue(ctx, "q", []byte("x"), keyq.Delay(huge)); return err }},
		{"EnqueueBatch nil option", func() error {
			_, err := q.EnqueueBatch(ctx, "q", []keyq.Message{{Payload: []byte("x")}}, keyq.Key("k"), nil)
			return err
		}},
		{"EnqueueBatch empty", func() error { _, err := q.EnqueueBatch(ctx, "q", nil); return err }},

		{"Dequeue nil context", func() error { _, err := q.Dequeue(nilCtx); return err }},
		{"Dequeue nil option", func() error { _, err := q.Dequeue(ctx, nil); return err }},
		{"Dequeue batch 0", func() error { _, err := q.Dequeue(ctx, keyq.Batch(0)); return err }},
		{"Dequeue batch over max", func() error { _, err := q.Dequeue(ctx, keyq.Batch(keyq.MaxCount+1)); return err }},
		{"Dequeue lease huge", func() error { _, err := q.Dequeue(ctx, keyq.LeaseFor(huge)); return err }},
		{"Dequeue wait huge", func() error { _, err := q.Dequeue(ctx, keyq.Wait(huge)); return err }},
		{"Next nil option", func() error { _, err := q.Next(ctx, nil); return err }},

		{"Ack nil lease", func() error { return q.Ack(ctx, nil) }},
		{"Ack nil option", func() error { return q.Ack(ctx, l, nil) }},
		{"Ack nil context", func() error { return q.Ack(nilCtx, l) }},
		{"AckBatch nil context", func() error { _, err := q.AckBatch(nilCtx, []keyq.AckRequest{{Lease: l}}); return err }},
		{"AckBatch nil context, no requests", func() error { _, err := q.AckBatch(nilCtx, nil); return err }},
		{"AckBatch over max", func() error { _, err := q.AckBatch(ctx, make([]keyq.AckRequest, keyq.MaxCount+1)); return err }},
		{"AckBatch nil option", func() error {
			errs, err := q.AckBatch(ctx, []keyq.AckRequest{{Lease: l, Opts: []keyq.AckOption{nil}}})
			if err != nil {
				return err
			}
			return errs[0]
		}},
		{"Release nil option", func() error { return q.Release(ctx, l, nil) }},
		{"Release nil lease", func() error { return q.Release(ctx, nil) }},
		{"Release after huge", func() error { return q.Release(ctx, l, keyq.Delay(huge)) }},
		{"Extend huge", func() error { return q.Extend(ctx, l, huge) }},
		{"Extend zero", func() error { return q.Extend(ctx, l, 0) }},
		{"Extend nil lease", func() error { return q.Extend(ctx, nil, time.Second) }},

		{"Peek negative offset", func() error { _, err := q.Peek(ctx, "q", -1, 1); return err }},
		{"Peek count 0", func() error { _, err := q.Peek(ctx, "q", 0, 0); return err }},
		{"Leases count 0", func() error { _, err := q.Leases(ctx, 0); return err }},
		{"Dead negative offset", func() error { _, err := q.Dead(ctx, -1, 1); return err }},
		{"Stats nil context", func() error { _, err := q.Stats(nilCtx); return err }},
		{"Job nil context", func() error { _, err := q.Job(nilCtx, "1"); return err }},
		{"Answer nil context", func() error { _, err := q.Answer(nilCtx, "k"); return err }},
		{"SetAnswer nil context", func() error { return q.SetAnswer(nilCtx, "k", 1) }},
		{"Reclaim nil context", func() error { _, err := q.Reclaim(nilCtx); return err }},
		{"Pause no queues", func() error { return q.Pause(ctx) }},
		{"Pause an empty queue name", func() error { return q.Pause(ctx, keyq.DefaultQueue, "") }},
		{"Pause nil context", func() error { return q.Pause(nilCtx, keyq.DefaultQueue) }},
		{"Resume no queues", func() error { return q.Resume(ctx) }},
		{"Delete empty ID", func() error { return q.Delete(ctx, "") }},
		{"Delete nil context", func() error { return q.Delete(nilCtx, l.ID) }},
		{"Cancel empty ID", func() error { _, err := q.Cancel(ctx, ""); return err }},
		{"Cancel nil context", func() error { _, err := q.Cancel(nilCtx, l.ID); return err }},
		{"Delayed negative offset", func() error { _, err := q.Delayed(ctx, "", -1, 1); return err }},
		{"Delayed count 0", func() error { _, err := q.Delayed(ctx, keyq.DefaultQueue, 0, 0); return err }},
		{"Allow burst over max", func() error { _, err := q.Allow(ctx, "r", time.Second, keyq.MaxCount+1); return err }},
		{"Allow interval huge", func() error { _, err := q.Allow(ctx, "r", huge, 1); return err }},

		{"NewWorker nil client", func() error { _, err := keyq.NewWorker(nil); return err }},
		{"NewWorker nil option", func() error { return newWorker(nil) }},
		{"WorkerAckBatches 100000", func() error { return newWorker(keyq.WorkerConfig{SettleCalls: 100000}) }},
		{"WorkerConcurrency over max", func() error { return newWorker(keyq.WorkerConfig{Concurrency: keyq.MaxWorkerConcurrency + 1}) }},
		{"WorkerBatch over max", func() error { return newWorker(keyq.WorkerConfig{Batch: keyq.MaxCount + 1}) }},
		{"WorkerLease huge", func() error { return newWorker(keyq.WorkerConfig{Lease: huge}) }},
		{"WorkerPollWait huge", func() error { return newWorker(keyq.WorkerConfig{PollWait: huge}) }},
		{"WorkerRate burst over max", func() error { return newWorker(keyq.WorkerConfig{Rate: 10, RateBurst: keyq.MaxCount + 1}) }},
		{"WorkerSharedRate interval huge", func() error {
			return newWorker(keyq.WorkerConfig{SharedRate: keyq.SharedRate{Name: "r", Interval: huge, Burst: 1}})
		}},
		{"Worker Shutdown nil context", func() error {
			w, err := keyq.NewWorker(q)
			if err != nil {
				return err
			}
			return w.Shutdown(nilCtx)
		}},
		{"Worker Run nil context", func() error {
			w, err := keyq.NewWorker(q)
			if err != nil {
				return err
			}
			return w.Run(nilCtx)
		}},
		{"Worker Run nil handler", func() error {
			w, err := keyq.NewWorker(q)
			if err != nil {
				return err
			}
			w.Handle("", nil)
			return w.Run(runCtx)
		}},
		{"Worker Run nil handler func", func() error {
			w, err := keyq.NewWorker(q)
			if err != nil {
				return err
			}
			w.HandleFunc("", nil)
			return w.Run(runCtx)
		}},
		{"Worker Run nil middleware", func() error {
			w, err := keyq.NewWorker(q)
			if err != nil {
				return err
			}
			w.Use(nil)
			return w.Run(runCtx)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				return tc.call()
			}()
			if !errors.Is(err, keyq.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	after, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Counters != before.Counters || len(after.Queues) != len(before.Queues) || after.Queues[keyq.DefaultQueue] != before.Queues[keyq.DefaultQueue] {
		t.Fatalf("bad input changed the namespace: stats %+v, then %+v", before, after)
	}
	if err := q.Ack(ctx, l); err != nil {
		t.Fatalf("the lease did not survive the bad calls: %v", err)
	}
}
