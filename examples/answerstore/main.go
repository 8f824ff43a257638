// Command answerstore walks through the seeds' answer-store client (seed 000): add
// tasks to the {service}_queue and {service}_reestr lists, take the next one across
// both in priority order, store answers with separate TTLs for success and error,
// put a failed task back at the head, and check answers with a TTL refresh. A task
// whose answer exists is not delivered again.
//
//	go run ./examples/answerstore                         # in-memory backend
//	go run ./examples/answerstore -redis redis://localhost:6379/0
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
)

func main() {
	redisURL := flag.String("redis", "", "Redis URL such as redis://localhost:6379/0; empty for the in-memory backend")
	ns := flag.String("namespace", "", "namespace (the seeds' service); empty for a fresh one")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *redisURL, *ns); err != nil {
		log.Fatal(err)
	}
}

// open returns the in-memory backend, or the Redis one when url is set.
func open(url string) (backend.Backend, func(), error) {
	var b backend.Backend = memory.New()
	if url != "" {
		rb, err := redisbackend.OpenURL(context.Background(), url, redisbackend.Options{})
		if err != nil {
			return nil, nil, err
		}
		b = rb
	}
	return b, func() { _ = b.Close() }, nil
}

func run(ctx context.Context, out io.Writer, redisURL, ns string) error {
	b, closeBackend, err := open(redisURL)
	if err != nil {
		return err
	}
	defer closeBackend()
	if ns == "" {
		ns = fmt.Sprintf("callapp-%d", time.Now().UnixNano())
	}
	// The seeds' callapp_queue and callapp_reestr, with task_ttl_ok and task_ttl_error.
	q, err := keyq.New(b, ns, keyq.WithQueues("queue", "reestr"), keyq.WithAnswerTTL(24*time.Hour, time.Hour))
	if err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	// add_task: append to the tail.
	for _, t := range []struct{ queue, payload string }{{"reestr", "registry-7"}, {"queue", "call-1"}, {"queue", "call-2"}} {
		if _, err := q.Enqueue(ctx, t.queue, []byte(t.payload)); err != nil {
			return err
		}
		say("add_task %s -> %s", t.payload, t.queue)
	}

	// check_queue: the main queue first, then the registry.
	l, err := q.Next(ctx)
	if err != nil {
		return err
	}
	say("check_queue: %s from %s", l.Payload, l.Queue)

	// The work failed: return_to_queue puts it back at the head.
	if err := q.Release(ctx, l, keyq.Because(fmt.Errorf("upstream timeout"))); err != nil {
		return err
	}
	say("return_to_queue %s", l.Payload)

	if l, err = q.Next(ctx); err != nil {
		return err
	}
	say("check_queue: %s from %s, attempt %d", l.Payload, l.Queue, l.Attempt)
	// set_answer: ack and store the answer in one step.
	if err := q.Ack(ctx, l, keyq.WithAnswer(map[string]string{"status": "ok", "for": string(l.Payload)})); err != nil {
		return err
	}
	say("set_answer %s", l.Payload)

	if l, err = q.Next(ctx); err != nil {
		return err
	}
	say("check_queue: %s from %s", l.Payload, l.Queue)
	if err := q.Ack(ctx, l, keyq.WithErrorAnswer(map[string]string{"error": "subscriber not found"})); err != nil {
		return err
	}
	say("set_answer %s (error)", l.Payload)

	if l, err = q.Next(ctx); err != nil {
		return err
	}
	say("check_queue: %s from %s", l.Payload, l.Queue)
	if err := q.Ack(ctx, l, keyq.WithAnswer("registry done")); err != nil {
		return err
	}
	say("set_answer %s", l.Payload)

	// A repeat of an answered task is skipped, and its answer's TTL refreshed.
	if _, err := q.Enqueue(ctx, "queue", []byte("call-1")); err != nil {
		return err
	}
	say("add_task call-1 -> queue (again)")
	if l, err = q.Next(ctx); err != nil {
		return err
	}
	say("check_queue: %v (call-1 is answered already)", l)

	for _, key := range []string{"call-1", "call-2", "call-3"} {
		ok, err := q.Exists(ctx, key)
		if err != nil {
			return err
		}
		say("check_exists %s: %v", key, ok)
	}
	ok, err := q.ExistsRefresh(ctx, "call-2")
	if err != nil {
		return err
	}
	say("check_exists_with_update_ttl call-2: %v", ok)
	for _, key := range []string{"call-1", "call-2", "registry-7"} {
		a, err := q.Answer(ctx, key)
		if err != nil {
			return err
		}
		say("answer %s: %s ok=%v ttl=%v", key, a.Value, a.OK, a.TTL)
	}
	st, err := q.Stats(ctx)
	if err != nil {
		return err
	}
	c := st.Counters
	say("enqueued %d, delivered %d, acked %d, released %d, deduped %d", c.Enqueued, c.Delivered, c.Acked, c.Released, c.Deduped)
	return nil
}
