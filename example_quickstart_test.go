package keyq_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/memory"
)

// The README's Quick start: a producer queues a task, a consumer leases it and acks
// it with its answer, and anyone can then ask whether the task is answered. Its
// body is the README's snippet, word for word (TestQuickStartMatchesREADME).
func Example_quickStart() {
	ctx := context.Background()
	b := memory.New() // on Redis: b, err := redisbackend.OpenURL(ctx, "redis://host:6379/0", redisbackend.Options{})
	defer b.Close()

	q, err := keyq.New(b, "callapp", keyq.Queues("queue", "reestr"))
	if err != nil {
		log.Fatal(err)
	}

	// Producer: append a task to the tail of "queue" (keyq.AtHead() puts it first).
	if _, err := q.Enqueue(ctx, "queue", []byte("call-42")); err != nil {
		log.Fatal(err)
	}

	// Consumer: lease the next task, from "queue" before "reestr"; nil if none
	// arrives within the wait.
	lease, err := q.Next(ctx, keyq.Wait(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	if lease != nil {
		result := map[string]string{"status": "called", "for": string(lease.Payload)}
		// Store the answer and end the lease in one atomic step. On failure,
		// q.Release(ctx, lease) would put the task back at the head instead.
		if err := q.Ack(ctx, lease, keyq.WithAnswer(result)); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("handled %s from %s\n", lease.Payload, lease.Queue)
	}

	// Anyone: is call-42 answered? This read also resets the answer's TTL.
	ok, err := q.ExistsRefresh(ctx, "call-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("answered:", ok)
	// Output:
	// handled call-42 from queue
	// answered: true
}
