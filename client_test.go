package keyq_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
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
