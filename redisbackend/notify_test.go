package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// wakeLog records the wake-ups a Notify function receives.
type wakeLog struct{ c chan backend.Wake }

func newWakeLog() *wakeLog { return &wakeLog{c: make(chan backend.Wake, 4096)} }

// f is the function to pass to Notify: it never blocks.
func (w *wakeLog) f(wk backend.Wake) {
	select {
	case w.c <- wk:
	default:
	}
}

// next returns the next wake-up, failing t when none comes within d.
func (w *wakeLog) next(t *testing.T, d time.Duration, what string) backend.Wake {
	t.Helper()
	select {
	case wk := <-w.c:
		return wk
	case <-time.After(d):
		t.Fatalf("no wake-up within %v: %s", d, what)
		panic("unreachable")
	}
}

// until returns once a wake-up equal to want arrives, skipping others.
func (w *wakeLog) until(t *testing.T, want backend.Wake, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case wk := <-w.c:
			if wk == want {
				return
			}
		case <-deadline:
			t.Fatalf("no wake-up %+v within %v", want, d)
		}
	}
}

// drain empties the log and returns what it held.
func (w *wakeLog) drain() (out []backend.Wake) {
	for {
		select {
		case wk := <-w.c:
			out = append(out, wk)
		default:
			return out
		}
	}
}

func enqueueOne(t *testing.T, n *namespace, payload string) string {
	t.Helper()
	return mustEnqueue(t, n, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg(payload, 25)}})[0]
}

// TestNotify: an enqueue of n tasks reaches every listener as Wake{q, n}, an
// empty or malformed message as Wake{}; after stop a listener hears nothing,
// and Close sends every listener Wake{} and ends Notify for good.
func TestNotify(t *testing.T) {
	mt := newMini(t)
	ctx := context.Background()
	n := nsOf(mt.b, "ns")
	a, b := newWakeLog(), newWakeLog()
	stopA, err := n.Notify(ctx, a.f)
	if err != nil {
		t.Fatal(err)
	}
	stopB, err := n.Notify(ctx, b.f)
	if err != nil {
		t.Fatal(err)
	}
	a.drain() // the subscription's confirmation may have sent Wake{}
	b.drain()
	mustEnqueue(t, n, backend.EnqueueParams{Queue: "q{1}", Tasks: []backend.Message{msg("x", 1), msg("y", 1)}})
	for _, w := range []*wakeLog{a, b} {
		if wk := w.next(t, 10*time.Second, "enqueue"); wk != (backend.Wake{Queue: "q{1}", Count: 2}) {
			t.Fatalf("after an enqueue of two tasks: %+v, want Wake{q{1} 2}", wk)
		}
	}
	channel := n.k.channel
	for _, m := range []string{"", "garbage", "0:q", "-1:q", "3:"} {
		mt.mr.Publish(channel, m)
		if wk := a.next(t, 10*time.Second, "message "+m); wk != (backend.Wake{}) {
			t.Fatalf("message %q: %+v, want Wake{}", m, wk)
		}
	}
	// Another namespace's messages do not reach this one's listeners.
	mustEnqueue(t, nsOf(mt.b, "other"), backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("o", 1)}})

	stopA()
	stopA() // a second stop is harmless
	mt.mr.Publish(channel, "7:late")
	// b hears it, and one receive loop calls both in order: a would have heard it
	// by now.
	b.until(t, backend.Wake{Queue: "late", Count: 7}, 10*time.Second)
	if got := a.drain(); len(got) != 0 {
		t.Fatalf("a stopped listener heard %+v", got)
	}

	if err := mt.b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := b.drain(); len(got) != 1 || got[0] != (backend.Wake{}) {
		t.Fatalf("Close sent %+v, want one Wake{}", got)
	}
	stopB() // after Close, harmless
	if _, err := n.Notify(ctx, b.f); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Notify after Close: %v, want ErrClosed", err)
	}
}

// TestNotifyBadInput: a nil ctx or function is ErrInvalid, a done ctx its
// error; none subscribes.
func TestNotifyBadInput(t *testing.T) {
	mt := newMini(t)
	n := nsOf(mt.b, "ns")
	var nilCtx context.Context
	if _, err := n.Notify(nilCtx, func(backend.Wake) {}); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("nil ctx: %v, want ErrInvalid", err)
	}
	if _, err := n.Notify(context.Background(), nil); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("nil function: %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Notify(ctx, func(backend.Wake) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v, want context.Canceled", err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	if _, err := n.Notify(dctx, func(backend.Wake) {}); !errors.Is(err, backend.ErrTimeout) {
		t.Errorf("ctx past its deadline: %v, want ErrTimeout", err)
	}
	if chans := mt.mr.PubSubChannels("*"); len(chans) != 0 {
		t.Errorf("refused calls subscribed %v", chans)
	}
}

// TestDequeueNext: an empty Dequeue reports when the next delayed task is due,
// or the next lease expires, on the server's clock; none is zero.
func TestDequeueNext(t *testing.T) {
	mt := newMini(t)
	ctx := context.Background()
	n := nsOf(mt.b, "ns")
	p := backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: 3 * time.Second}
	if res, err := n.Dequeue(ctx, p); err != nil || res.Next != 0 || len(res.Leases) != 0 {
		t.Fatalf("empty namespace: %+v, %v; want nothing and Next 0", res, err)
	}
	mustEnqueue(t, n, backend.EnqueueParams{Queue: "q", Delay: 5 * time.Second, Tasks: []backend.Message{msg("d", 3)}})
	if res, err := n.Dequeue(ctx, p); err != nil || res.Next != 5*time.Second {
		t.Fatalf("a task due in 5s: %+v, %v; want Next 5s", res, err)
	}
	mustEnqueue(t, n, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("x", 3)}})
	if res, err := n.Dequeue(ctx, p); err != nil || len(res.Leases) != 1 || res.Next != 0 {
		t.Fatalf("a waiting task: %+v, %v; want its lease and Next 0", res, err)
	}
	if res, err := n.Dequeue(ctx, p); err != nil || res.Next != 3*time.Second {
		t.Fatalf("a lease of 3s: %+v, %v; want Next 3s", res, err)
	}
	mt.Advance(3*time.Second - time.Microsecond)
	if res, err := n.Dequeue(ctx, p); err != nil || res.Next != time.Millisecond {
		t.Fatalf("a lease due in under a millisecond: %+v, %v; want Next 1ms", res, err)
	}
}

// TestNotifySurvivesClientKill: killing every client connection while someone
// listens, the Pub/Sub one included, does not strand the listener: it
// resubscribes, hears Wake{} for what it may have missed, and then hears the
// tasks enqueued afterwards.
func TestNotifySurvivesClientKill(t *testing.T) {
	client := realClient(t)
	b, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	n := nsOf(b, "kill")
	w := newWakeLog()
	stop, err := n.Notify(ctx, w.f)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	w.drain()
	admin := redis.NewClient(&redis.Options{Addr: client.Options().Addr})
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE normal: %v", err)
	}
	w.until(t, backend.Wake{}, time.Minute) // resubscribed, or a probe of the first subscription
	// A Wake{} may also come from the first subscription's probe (an empty
	// message published when its confirmation was slow, as on a busy machine),
	// so the resubscription may still be under way and an enqueue's wake-up lost
	// with it. What must hold: every enqueue is followed by its Wake{q, 1} or by
	// a Wake{} that tells listeners to look again, and once resubscribed the
	// listener hears tasks again.
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no Wake{q, 1} for %d tasks enqueued after the kill within a minute", i)
		}
		enqueueOne(t, n, fmt.Sprintf("after-kill-%d", i))
		if wk := w.next(t, time.Minute, "a wake-up after an enqueue that followed the kill"); wk == (backend.Wake{Queue: "q", Count: 1}) {
			return
		}
	}
}
