// Command answerstore walks through an answer store in front of a queue: add
// tasks to a main queue and a registry queue of one namespace, take the next one
// across both in priority order, store answers with separate TTLs for success and
// error, put a failed task back at the head, and check answers with a TTL refresh.
// A task whose answer exists is not delivered again. Each step prints one line
// saying what it did.
//
//	go run ./examples/answerstore                         # in-memory backend
//	go run ./examples/answerstore -redis redis://localhost:6379/0
//
// On Redis it works in a fresh namespace, example-answerstore-<random>, and deletes
// the namespace's keys when it ends, unless -keep is given (then it prints the
// namespace's name, for keyq stats and friends). A namespace named with -namespace
// is never deleted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
)

type config struct {
	redisURL  string
	namespace string // empty for a fresh one
	keep      bool   // on Redis, keep the namespace's keys at the end
}

func main() {
	var cfg config
	flag.StringVar(&cfg.redisURL, "redis", "", "Redis URL such as redis://localhost:6379/0; empty for the in-memory backend")
	flag.StringVar(&cfg.namespace, "namespace", "", "namespace to work in, never deleted; empty for a fresh one, deleted at the end unless -keep")
	flag.BoolVar(&cfg.keep, "keep", false, "on Redis, keep the namespace's keys instead of deleting them at the end")
	flag.Parse()
	if cfg.namespace != "" {
		cfg.keep = true
	}
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		log.Fatal(err)
	}
}

// freshNamespace returns the name of a namespace of this program's own.
var freshNamespace = func() string {
	return "example-answerstore-" + strconv.FormatUint(rand.Uint64(), 36)
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

func run(ctx context.Context, out io.Writer, cfg config) (err error) {
	ns := cfg.namespace
	if ns == "" {
		ns = freshNamespace()
	}
	b, closeBackend, err := open(cfg.redisURL, ns, cfg.keep)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeBackend()) }()
	// Two queues, the main one served first, with answers kept for a day after a
	// success and for an hour after an error.
	q, err := keyq.New(b, ns, keyq.Queues("queue", "reestr"), keyq.AnswerTTL(24*time.Hour, time.Hour))
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
