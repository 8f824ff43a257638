package conformance

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/keyq/keyq"
)

func init() {
	register(
		test{name: "S10.1 whatever consumers do, no task is lost", fn: testAtLeastOnce},
		test{name: "S10.2 validation run: every second delivery fails, all come out once", fn: testValidationRun},
		test{name: "S10.2 validation run with batches", fn: testValidationRunBatched},
	)
}

// testAtLeastOnce lets simulated consumers ack, release, crash (drop their lease),
// ack late and let time pass at random, and checks that every task ends acked or
// dead, with exactly one successful ack or one death each.
func testAtLeastOnce(e *env) {
	n, steps := 300, 4000
	if e.unit < time.Second/2 { // real time: about 30 sleeps of a unit; fake clocks walk further
		n, steps = 60, 300
	}
	c := e.client(keyq.MaxAttempts(6), keyq.LeaseFor(e.u(2)))
	r := rand.New(rand.NewPCG(42, uint64(n)))
	for i := range n {
		e.enqueue(c, "q", strconv.Itoa(i))
	}
	done := map[string]int{}
	var held []keyq.Lease // leases some consumer still holds
	for step := 0; step < steps; step++ {
		switch k := r.IntN(10); {
		case k < 4:
			ls, err := c.Dequeue(e.ctx, keyq.Batch(1+r.IntN(3)))
			if err != nil {
				e.Fatal(err)
			}
			held = append(held, ls...)
		case k < 8 && len(held) > 0:
			i := r.IntN(len(held))
			l := held[i]
			held = append(held[:i], held[i+1:]...)
			var err error
			switch r.IntN(4) {
			case 0:
				err = c.Release(e.ctx, &l, keyq.ToTail())
			case 1:
				err = c.Release(e.ctx, &l, keyq.Delay(e.u(1)))
			case 2:
				continue // the consumer crashed: the lease is never ended
			default:
				err = c.Ack(e.ctx, &l, keyq.WithAnswer(l.Payload))
				if err == nil {
					done[string(l.Payload)]++
				}
			}
			if err != nil && !errors.Is(err, keyq.ErrLeaseLost) {
				e.Fatalf("lease call: %v", err)
			}
		case k == 8:
			e.advance(1)
		}
	}
	// Now one tidy consumer finishes the work.
	for {
		e.advance(3)
		ls, err := c.Dequeue(e.ctx, keyq.Batch(50))
		if err != nil {
			e.Fatal(err)
		}
		if len(ls) == 0 {
			break
		}
		for i := range ls {
			if err := c.Ack(e.ctx, &ls[i]); err == nil {
				done[string(ls[i].Payload)]++
			}
		}
	}
	dead, err := c.Dead(e.ctx, 0, n+1)
	if err != nil {
		e.Fatal(err)
	}
	for _, d := range dead {
		done[string(d.Payload)]++
	}
	for i := range n {
		if k := done[strconv.Itoa(i)]; k != 1 {
			e.Errorf("task %d ended %d times (acked or dead), want exactly once", i, k)
		}
	}
	st := e.stats(c, "q")
	if q := st.Queues["q"]; q.Waiting != 0 || q.Leased != 0 || q.Delayed != 0 || int(st.Counters.Acked)+len(dead) != n {
		e.Fatalf("stats %+v with %d dead; want all %d tasks acked or dead", st, len(dead), n)
	}
}

func testValidationRun(e *env) { validationRun(e, 1000, 1) }

// With batches the failed tasks go to the tail: released to the head, a task could
// land on an even delivery every time and fail until it is dead-lettered.
func testValidationRunBatched(e *env) { validationRun(e, 1000, 10, keyq.ToTail()) }

// validationRun is the validation run of S10.2: n tasks, every second delivery fails and
// is released (to the head unless opts say otherwise), and every task ends acked
// exactly once with its answer.
func validationRun(e *env, n, batch int, opts ...keyq.ReleaseOption) {
	c := e.client(keyq.MaxAttempts(keyq.DefaultMaxAttempts))
	msgs := make([]keyq.Message, n)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: []byte(strconv.Itoa(i))}
	}
	if _, err := c.EnqueueBatch(e.ctx, "q", msgs); err != nil {
		e.Fatal(err)
	}
	acked := make([]int, n)
	deliveries := 0
	for {
		ls, err := c.Dequeue(e.ctx, keyq.Batch(batch))
		if err != nil {
			e.Fatal(err)
		}
		if len(ls) == 0 {
			break
		}
		for i := range ls {
			deliveries++
			if deliveries%2 == 0 {
				e.release(c, &ls[i], opts...)
				continue
			}
			v, _ := strconv.Atoi(string(ls[i].Payload))
			e.ack(c, &ls[i], keyq.WithAnswer(v*2))
			acked[v]++
		}
	}
	for i := range n {
		if acked[i] != 1 {
			e.Fatalf("task %d acked %d times, want once", i, acked[i])
		}
		a, err := c.Answer(e.ctx, strconv.Itoa(i))
		var v int
		if err != nil || a.Decode(&v) != nil || v != i*2 {
			e.Fatalf("answer of task %d: %d, %v; want %d", i, v, err, i*2)
		}
	}
	st := e.stats(c, "q")
	if st.Counters.Acked != int64(n) || st.Queues["q"] != (keyq.QueueStats{}) || st.Counters.Delivered != int64(deliveries) {
		e.Fatalf("stats %+v after %d deliveries", st, deliveries)
	}
}
