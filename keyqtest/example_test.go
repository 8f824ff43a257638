package keyqtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/keyqtest"
)

// exampleT stands in for the *testing.T of a test in these examples: it prints
// failures instead of failing.
type exampleT struct{ testing.TB }

func (exampleT) Helper()                   {}
func (exampleT) Cleanup(func())            {}
func (exampleT) Failed() bool              { return false }
func (exampleT) Fatal(a ...any)            { fmt.Println(a...) }
func (exampleT) Fatalf(s string, a ...any) { fmt.Printf(s+"\n", a...) }
func (exampleT) Errorf(s string, a ...any) { fmt.Printf(s+"\n", a...) }

var t = exampleT{}

func ExampleNew() {
	c, clk := keyqtest.New(t, keyq.Queues("mail"))
	ctx := context.Background()
	_, _ = c.Enqueue(ctx, "mail", []byte("reminder"), keyq.Delay(time.Hour))
	n, _ := c.Len(ctx, "mail")
	fmt.Println(clk.Now(), n)

	clk.Advance(time.Hour) // the delay passes at once
	n, _ = c.Len(ctx, "mail")
	fmt.Println(clk.Now(), n)
	// Output:
	// 2030-01-01 00:00:00 +0000 UTC 0
	// 2030-01-01 01:00:00 +0000 UTC 1
}

func ExampleRequireEnqueued() {
	c, _ := keyqtest.New(t, keyq.Queues("mail"))
	_, _ = c.Enqueue(context.Background(), "mail", []byte(`{"to":"ann@example.com"}`), keyq.Type("welcome"))

	task := keyqtest.RequireEnqueued(t, c, "mail", keyqtest.HasType("welcome"))
	fmt.Printf("%s\n", task.Payload)

	// A task that is not there fails the test, and says what is.
	keyqtest.RequireEnqueued(t, c, "mail", keyqtest.HasType("invoice"))
	// Output:
	// {"to":"ann@example.com"}
	// keyqtest: no task waiting in queue "mail" matches; 1 waits:
	// 	ID 1 type "welcome" payload "{\"to\":\"ann@example.com\"}"
}

func ExampleWorkOne() {
	c, _ := keyqtest.New(t, keyq.Queues("mail"))
	_, _ = c.Enqueue(context.Background(), "mail", []byte("ann@example.com"), keyq.Type("welcome"))

	send := keyq.HandlerFunc(func(ctx context.Context, task *keyq.Task) (any, error) {
		return nil, keyq.Final(errors.New("mailbox full"))
	})
	r := keyqtest.WorkOne(t, c, "mail", send)
	fmt.Println(r.Outcome, r.Status, r.Err)
	fmt.Printf("%s\n", r.Answer.Value)
	// Output:
	// failed failed mailbox full
	// {"error":"mailbox full"}
}

func ExampleDrain() {
	c, _ := keyqtest.New(t, keyq.Queues("mail"))
	for _, to := range []string{"ann", "bob"} {
		_, _ = c.Enqueue(context.Background(), "mail", []byte(to), keyq.Type("welcome"))
	}

	results := keyqtest.Drain(t, c, "mail", func(w *keyq.Worker) {
		w.HandleFunc("welcome", func(ctx context.Context, task *keyq.Task) (any, error) {
			return "sent to " + string(task.Payload), nil
		})
	}, keyq.WorkerConfig{Concurrency: 1})
	// Results come in the order deliveries ended, and a delivery ends when its
	// settle returns: settles run beside the next handler, so order them here.
	slices.SortFunc(results, func(a, b keyqtest.Result) int { return bytes.Compare(a.Task.Payload, b.Task.Payload) })
	for _, r := range results {
		fmt.Printf("%s %s %s\n", r.Task.Payload, r.Outcome, r.Answer.Value)
	}
	// Output:
	// ann finished "sent to ann"
	// bob finished "sent to bob"
}
