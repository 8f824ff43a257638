package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/memory"
)

// The basic flow: add a task, take the next one across the namespace's queues in
// order, store its answer, and check for the answer with a TTL refresh.
func Example() {
	ctx := context.Background()
	b := memory.New() // or redisbackend.New(redisClient, redisbackend.Options{})
	defer b.Close()
	q, err := keyq.New(b, "callapp", keyq.Queues("queue", "reestr"))
	if err != nil {
		panic(err)
	}

	q.Enqueue(ctx, "reestr", []byte("registry-7"))
	q.Enqueue(ctx, "queue", []byte("call-42"))

	lease, err := q.Next(ctx) // "queue" comes before "reestr"
	if err != nil || lease == nil {
		panic(fmt.Sprint("no task: ", err))
	}
	fmt.Printf("working on %s from %s\n", lease.Payload, lease.Queue)
	if err := q.Ack(ctx, lease, keyq.WithAnswer(map[string]string{"status": "called"})); err != nil {
		panic(err)
	}

	ok, _ := q.ExistsRefresh(ctx, "call-42")
	fmt.Println("answered:", ok)
	a, _ := q.Answer(ctx, "call-42")
	var v map[string]string
	a.Decode(&v)
	fmt.Println("answer:", v["status"], "ok:", a.OK)
	// Output:
	// working on call-42 from queue
	// answered: true
	// answer: called ok: true
}

// A failed task goes back to the head of its queue and comes out first, with its
// attempt count up by one.
func ExampleClient_Release() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "callapp")

	q.Enqueue(ctx, keyq.DefaultQueue, []byte("a"))
	q.Enqueue(ctx, keyq.DefaultQueue, []byte("b"))
	lease, _ := q.Next(ctx)
	q.Release(ctx, lease, keyq.Because(errors.New("remote API down")))

	lease, _ = q.Next(ctx)
	fmt.Printf("%s, attempt %d\n", lease.Payload, lease.Attempt)
	// Output: a, attempt 1
}

// A task whose key already has an answer is not delivered again; the answer's TTL is
// refreshed instead.
func ExampleClient_Dequeue_dedupe() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "callapp")

	q.SetErrorAnswer(ctx, "user-404", "no such user") // negative cache
	q.Enqueue(ctx, keyq.DefaultQueue, []byte("user-404"))
	q.Enqueue(ctx, keyq.DefaultQueue, []byte("user-7"))

	leases, _ := q.Dequeue(ctx, keyq.Batch(10))
	for _, l := range leases {
		fmt.Println("delivered", string(l.Payload))
	}
	st, _ := q.Stats(ctx)
	fmt.Println("deduped", st.Counters.Deduped)
	// Output:
	// delivered user-7
	// deduped 1
}

// A consumer can wait for work: the call returns as soon as a task arrives, or empty
// when the wait runs out.
func ExampleWait() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "callapp")

	go q.Enqueue(ctx, keyq.DefaultQueue, []byte("soon"))
	lease, _ := q.Next(ctx, keyq.Wait(10*time.Second))
	fmt.Println(string(lease.Payload))
	// Output: soon
}

// Unique refuses a task whose key is already answered, queued or leased.
func ExampleUnique() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "callapp")

	q.Enqueue(ctx, keyq.DefaultQueue, []byte("report-2026-11"), keyq.Unique())
	_, err := q.Enqueue(ctx, keyq.DefaultQueue, []byte("report-2026-11"), keyq.Unique())
	fmt.Println(errors.Is(err, keyq.ErrDuplicate))
	// Output: true
}
