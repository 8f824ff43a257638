package keyq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
)

// A wait longer than any timeout sum still works: the operation timeout must not
// overflow into an immediate deadline.
func TestHugeWait(t *testing.T) {
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "ns")
	ctx := context.Background()
	q.Enqueue(ctx, keyq.DefaultQueue, []byte("x"))
	l, err := q.Next(ctx, keyq.Wait(keyq.MaxDuration))
	if err != nil || l == nil {
		t.Fatalf("Next(Wait(MaxDuration)) = %v, %v; want the waiting task", l, err)
	}
}

// Next must not write into the caller's options slice: goroutines may share it.
func TestNextSharedOptions(t *testing.T) {
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "ns")
	opts := make([]keyq.DequeueOption, 1, 4)
	opts[0] = keyq.Wait(0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if _, err := q.Next(context.Background(), opts...); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestRawAnswerMustBeJSON(t *testing.T) {
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "ns")
	ctx := context.Background()
	if err := q.SetAnswer(ctx, "k", json.RawMessage(`{"a":`)); !errors.Is(err, keyq.ErrInvalid) {
		t.Fatalf("invalid raw JSON: %v, want ErrInvalid", err)
	}
	if err := q.SetAnswer(ctx, "k", json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if a, err := q.Answer(ctx, "k"); err != nil || string(a.Value) != `{"a":1}` {
		t.Fatalf("raw answer %q, %v", a.Value, err)
	}
}

// Every option of New is checked.
func TestNewOptions(t *testing.T) {
	b := memory.New()
	defer b.Close()
	bad := map[string]keyq.Option{
		"no queues":         keyq.Queues(),
		"zero job TTL":      keyq.JobTTL(0),
		"max attempts 0":    keyq.MaxAttempts(0),
		"max attempts 2^16": keyq.MaxAttempts(1 << 16),
		"zero max payload":  keyq.MaxPayload(0),
		"zero error TTL":    keyq.AnswerTTL(time.Hour, 0),
	}
	for name, o := range bad {
		if _, err := keyq.New(b, "ns", o); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := keyq.New(nil, "ns"); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("nil backend: %v, want ErrInvalid", err)
	}
}

// noNotifierNS is a namespace handle without a Notifier: waiting callers poll.
type noNotifierNS struct {
	backend.Namespace
	backend.Inspector
	backend.Admin
	backend.RateLimiter
}

// trySpy and tryNoNotify signal tries on their channel after every Dequeue; the
// first keeps the handle's Notifier, the second has none.
type trySpy struct {
	nsParts
	tries chan struct{}
}

type tryNoNotify struct {
	noNotifierNS
	tries chan struct{}
}

func (s trySpy) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	defer func() { s.tries <- struct{}{} }()
	return s.nsParts.Dequeue(ctx, p)
}

func (s tryNoNotify) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	defer func() { s.tries <- struct{}{} }()
	return s.noNotifierNS.Dequeue(ctx, p)
}

// TestWaitWokenByEnqueue checks, on the memory backend, that a waiting Next gets
// a task enqueued once it waits: woken by the backend's Notifier, or, on a
// handle without one, by polling.
func TestWaitWokenByEnqueue(t *testing.T) {
	for _, notifier := range []bool{true, false} {
		t.Run(fmt.Sprint("notifier=", notifier), func(t *testing.T) {
			e := newMemoryEnv(t, true)
			tries := make(chan struct{}, 100)
			asleep := 1 // tries before the waiter sleeps: with a Notifier, another once it is registered
			c := wrapClient(t, e, "ns", func(h backend.Namespace) backend.Namespace {
				p := partsOf(h)
				if notifier {
					asleep = 2
					return trySpy{p, tries}
				}
				return tryNoNotify{noNotifierNS{p.Namespace, p.Inspector, p.Admin, p.RateLimiter}, tries}
			})
			got := make(chan *keyq.Lease, 1)
			go func() {
				l, err := c.Next(context.Background(), keyq.Wait(waitFor))
				if err != nil {
					t.Error(err)
				}
				got <- l
			}()
			for range asleep {
				recv(t, tries, "an empty try")
			}
			mustEnqueue(t, c, keyq.DefaultQueue, "x")
			if l := recv(t, got, "the waiting Next"); l == nil || string(l.Payload) != "x" {
				t.Fatalf("waiting Next got %+v, want the task enqueued", l)
			}
		})
	}
}
