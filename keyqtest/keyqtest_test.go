package keyqtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/keyqtest"
)

// fakeTB records failures. Fatal and Fatalf end the goroutine, as testing's do;
// run calls a helper in a goroutine of its own for that.
type fakeTB struct {
	testing.TB // nil: only the methods below are called
	t          *testing.T
	mu         sync.Mutex
	msgs       []string
	failed     bool
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Cleanup(fn func())         { f.t.Cleanup(fn) }
func (f *fakeTB) Failed() bool              { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeTB) Errorf(s string, a ...any) { f.fail(fmt.Sprintf(s, a...)) }
func (f *fakeTB) Fatalf(s string, a ...any) { f.fail(fmt.Sprintf(s, a...)); runtime.Goexit() }
func (f *fakeTB) Fatal(a ...any)            { f.fail(fmt.Sprint(a...)); runtime.Goexit() }

func (f *fakeTB) fail(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
	f.msgs = append(f.msgs, msg)
}

// run runs fn on f in a goroutine, as a test, and reports whether fn returned
// (false: it ended by Fatal).
func (f *fakeTB) run(fn func(tb testing.TB)) (returned bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		returned = true
	}()
	<-done
	return returned
}

func enqueue(t *testing.T, c *keyq.Client, queue, payload string, opts ...keyq.EnqueueOption) string {
	t.Helper()
	id, err := c.Enqueue(context.Background(), queue, []byte(payload), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRequireEnqueued(t *testing.T) {
	c, _ := keyqtest.New(t, keyq.Queues("q"))
	enqueue(t, c, "q", "a", keyq.Type("mail"))
	id := enqueue(t, c, "q", "b", keyq.Type("sms"), keyq.Key("k"))
	enqueue(t, c, "q", "c", keyq.Type("sms"))
	got := keyqtest.RequireEnqueued(t, c, "q", keyqtest.HasType("sms"))
	if got == nil || got.ID != id {
		t.Fatalf("RequireEnqueued(type sms) = %+v, want the first sms task, %s", got, id)
	}
	if got := keyqtest.RequireEnqueued(t, c, "q", keyqtest.HasKey("k")); got.ID != id {
		t.Fatalf("RequireEnqueued(key k) = %s, want %s", got.ID, id)
	}
	if got := keyqtest.RequireEnqueued(t, c, "q", nil); string(got.Payload) != "a" {
		t.Fatalf("RequireEnqueued(nil) = %q, want the head, a", got.Payload)
	}
}

// TestRequireEnqueuedFails checks that a task that is not there fails the test,
// ends it, and that the message lists what is there.
func TestRequireEnqueuedFails(t *testing.T) {
	c, _ := keyqtest.New(t, keyq.Queues("q"))
	ctx := context.Background()

	f := &fakeTB{t: t}
	if f.run(func(tb testing.TB) { keyqtest.RequireEnqueued(tb, c, "q", nil) }) || !f.Failed() {
		t.Fatal("RequireEnqueued on an empty queue did not fail the test")
	}
	if want := `keyqtest: no task waiting in queue "q" matches; none waits`; f.msgs[0] != want {
		t.Errorf("message %q, want %q", f.msgs[0], want)
	}

	a := enqueue(t, c, "q", "a", keyq.Type("mail"))
	b := enqueue(t, c, "q", "b", keyq.Key("k"), keyq.Header("tenant", "7"))
	enqueue(t, c, "q", "later", keyq.Delay(time.Hour))
	enqueue(t, c, "q", "taken")
	enqueue(t, c, "q", "head", keyq.AtHead())
	if l, err := c.Next(ctx); err != nil || string(l.Payload) != "head" {
		t.Fatalf("Next: %v, %v", l, err)
	}
	f = &fakeTB{t: t}
	if f.run(func(tb testing.TB) { keyqtest.RequireEnqueued(tb, c, "q", keyqtest.HasPayload("nope")) }) || !f.Failed() {
		t.Fatal("RequireEnqueued of a payload not there did not fail the test")
	}
	want := strings.Join([]string{
		`keyqtest: no task waiting in queue "q" matches; 3 wait, from the head:`,
		`	ID ` + a + ` type "mail" payload "a"`,
		`	ID ` + b + ` type "" payload "b" key "k" headers map[tenant:7]`,
		`	ID 4 type "" payload "taken"`,
		`	(not shown: 1 delayed, 1 leased)`,
	}, "\n")
	if len(f.msgs) != 1 || f.msgs[0] != want {
		t.Errorf("message:\n%s\nwant:\n%s", strings.Join(f.msgs, "\n--\n"), want)
	}
}

func TestWorkOne(t *testing.T) {
	c, _ := keyqtest.New(t, keyq.Queues("q"))
	enqueue(t, c, "q", "ok", keyq.Type("a"))
	enqueue(t, c, "q", "final", keyq.Type("b"))
	enqueue(t, c, "q", "retry")
	var ran []string
	h := keyq.HandlerFunc(func(_ context.Context, t *keyq.Task) (any, error) {
		ran = append(ran, string(t.Payload))
		switch string(t.Payload) {
		case "final":
			return nil, keyq.Final(errors.New("bad card"))
		case "retry":
			return nil, errors.New("try later")
		}
		return map[string]int{"n": 1}, nil
	})

	r := keyqtest.WorkOne(t, c, "q", h)
	if string(r.Task.Payload) != "ok" || r.Outcome != keyq.OutcomeFinished || r.Err != nil || r.Status != keyq.StatusFinished ||
		r.Answer == nil || !r.Answer.OK || string(r.Answer.Value) != `{"n":1}` {
		t.Errorf("success: %+v (answer %+v)", r, r.Answer)
	}
	if len(ran) != 1 {
		t.Fatalf("the handler ran on %q, want only the head task", ran)
	}
	keyqtest.RequireEnqueued(t, c, "q", keyqtest.HasPayload("final"))

	r = keyqtest.WorkOne(t, c, "q", h)
	if r.Outcome != keyq.OutcomeFailed || r.Err == nil || r.Status != keyq.StatusFailed || r.Answer == nil || r.Answer.OK ||
		string(r.Answer.Value) != `{"error":"bad card"}` {
		t.Errorf("final failure: %+v (answer %+v)", r, r.Answer)
	}
	r = keyqtest.WorkOne(t, c, "q", h)
	if r.Outcome != keyq.OutcomeRetried || r.Err == nil || r.Status != keyq.StatusPending || r.Answer != nil {
		t.Errorf("transient failure: %+v", r)
	}
	f := &fakeTB{t: t}
	if f.run(func(tb testing.TB) { keyqtest.WorkOne(tb, c, "q", h) }) || !f.Failed() {
		t.Error("WorkOne on a queue whose only task is delayed did not fail the test")
	}
}

func TestDrain(t *testing.T) {
	c, clk := keyqtest.New(t, keyq.Queues("q"))
	for i := range 5 {
		enqueue(t, c, "q", fmt.Sprint(i), keyq.Type("n"))
	}
	failed := false
	register := func(w *keyq.Worker) {
		w.HandleFunc("n", func(ctx context.Context, t *keyq.Task) (any, error) {
			switch string(t.Payload) {
			case "0": // a handler's follow-up task is drained too
				_, err := c.Enqueue(ctx, "q", []byte("follow-up"), keyq.Type("n"))
				return nil, err
			case "3":
				if !failed {
					failed = true
					return nil, errors.New("once")
				}
			}
			return string(t.Payload), nil
		})
	}
	rs := keyqtest.Drain(t, c, "q", register)
	outcomes := map[string]keyq.Outcome{}
	for _, r := range rs {
		outcomes[string(r.Task.Payload)] = r.Outcome
	}
	want := map[string]keyq.Outcome{"0": keyq.OutcomeFinished, "1": keyq.OutcomeFinished, "2": keyq.OutcomeFinished,
		"3": keyq.OutcomeRetried, "4": keyq.OutcomeFinished, "follow-up": keyq.OutcomeFinished}
	if len(rs) != len(want) || fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Fatalf("Drain: %d deliveries, outcomes %v; want %v", len(rs), outcomes, want)
	}
	st, err := c.Stats(context.Background(), "q")
	if err != nil {
		t.Fatal(err)
	}
	if qs := st.Queues["q"]; qs.Waiting != 0 || qs.Leased != 0 || qs.Delayed != 1 {
		t.Fatalf("after Drain: %+v, want only the retried task, delayed", qs)
	}
	clk.Advance(time.Hour) // past the retry's backoff
	rs = keyqtest.Drain(t, c, "q", register)
	if len(rs) != 1 || string(rs[0].Task.Payload) != "3" || rs[0].Outcome != keyq.OutcomeFinished || string(rs[0].Answer.Value) != `"3"` {
		t.Fatalf("second Drain: %+v", rs)
	}
	if rs := keyqtest.Drain(t, c, "q", register); rs != nil {
		t.Fatalf("Drain of an empty queue: %+v", rs)
	}
}

// TestWorkOneCancelled: a task cancelled while its handler runs comes back as
// OutcomeCancelled, its job status cancelled, with no answer.
func TestWorkOneCancelled(t *testing.T) {
	c, _ := keyqtest.New(t)
	id, err := c.Enqueue(context.Background(), keyq.DefaultQueue, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	r := keyqtest.WorkOne(t, c, keyq.DefaultQueue, keyq.HandlerFunc(func(ctx context.Context, task *keyq.Task) (any, error) {
		if _, err := c.Cancel(ctx, task.ID); err != nil {
			return nil, err
		}
		<-ctx.Done()
		return "dropped", context.Cause(ctx)
	}))
	if r.Task.ID != id || r.Outcome != keyq.OutcomeCancelled || !errors.Is(r.Err, keyq.ErrCancelled) || r.Status != keyq.StatusCancelled || r.Answer != nil {
		t.Fatalf("WorkOne of a task cancelled while it ran: %+v, want OutcomeCancelled, ErrCancelled, status cancelled and no answer", r)
	}
}
