package redisbackend

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
	"github.com/redis/go-redis/v9"
)

// shortListen returns a Backend on a real server whose listener fields last
// listenFor d and are renewed every d/4, so that a test sees several of them
// lapse or renewed in a second.
func shortListen(t *testing.T, d time.Duration) (*Backend, *redis.Client) {
	t.Helper()
	c := realClient(t)
	rb, err := New(c, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	rb.wait.listenFor, rb.wait.renewEvery = d, d/4
	return rb, c
}

// channelLog is a plain subscription to a namespace's wake-up channel: it sees
// every PUBLISH, and registers no listener.
type channelLog struct {
	t  *testing.T
	c  *redis.Client
	ch string
	ps *redis.PubSub
}

func newChannelLog(t *testing.T, c *redis.Client, channel string) *channelLog {
	t.Helper()
	ps := c.Subscribe(context.Background(), channel)
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.ReceiveTimeout(context.Background(), 10*time.Second); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return &channelLog{t: t, c: c, ch: channel, ps: ps}
}

// next returns the next message published on the channel.
func (l *channelLog) next() string {
	l.t.Helper()
	v, err := l.ps.ReceiveTimeout(context.Background(), 10*time.Second)
	if err != nil {
		l.t.Fatalf("no message on the wake-up channel within 10s: %v", err)
	}
	m, ok := v.(*redis.Message)
	if !ok {
		l.t.Fatalf("wake-up channel: %T %v, want a message", v, v)
	}
	return m.Payload
}

// none publishes a mark of its own and fails unless it is the next message:
// nothing was published since the last one read.
func (l *channelLog) none(what string) {
	l.t.Helper()
	if err := l.c.Publish(context.Background(), l.ch, "mark").Err(); err != nil {
		l.t.Fatal(err)
	}
	if m := l.next(); m != "mark" {
		l.t.Fatalf("%s published %q, want nothing: nobody listens", what, m)
	}
}

// listenField returns the namespace's listener field, -1 when missing.
func listenField(t *testing.T, c *redis.Client, n *namespace) int64 {
	t.Helper()
	v, err := c.Get(context.Background(), n.k.prefix+lua.KeyListen).Result()
	if err == redis.Nil {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("listener field %q: %v", v, err)
	}
	return ms
}

// serverMS reads the server's clock.
func serverMS(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	tm, err := c.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMilli()
}

// eventually polls cond every few milliseconds until it holds, failing t with
// what when it does not within 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	limit := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(limit) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPublishOnlyWhileListened: with no Notify listener the scripts publish
// nothing, for an enqueue, a delayed enqueue, a lease or a release; Notify
// makes them publish before it returns, and keeps them publishing, renewed,
// for as long as it is registered, many listenFor long; after stop they stop
// once the field lapses. A listener key lost while registered (deleted, or
// flushed) costs the listener a Wake{} at the next renewal, and publishing
// resumes.
func TestPublishOnlyWhileListened(t *testing.T) {
	const d = 400 * time.Millisecond
	rb, c := shortListen(t, d)
	ctx := context.Background()
	n := nsOf(rb, "ns")
	raw := newChannelLog(t, c, n.k.channel)

	enqueueOne(t, n, "a")
	mustEnqueue(t, n, backend.EnqueueParams{Queue: "q", Delay: time.Hour, Tasks: []backend.Message{msg("later", 25)}})
	ls := mustDequeue(t, n, 1, "q")
	if err := settle1(ctx, n, backend.Settlement{LeaseRef: ref(ls[0]), Action: backend.Release}); err != nil {
		t.Fatal(err)
	}
	raw.none("an enqueue, a delayed enqueue, a dequeue and a release")
	if f := listenField(t, c, n); f != -1 {
		t.Fatalf("listener field %d with no listener, want none", f)
	}

	log := newWakeLog()
	stop, err := n.Notify(ctx, log.f)
	if err != nil {
		t.Fatal(err)
	}
	if f, now := listenField(t, c, n), serverMS(t, c); f <= now {
		t.Fatalf("after Notify: listener field %d, want after now, %d", f, now)
	}
	start := serverMS(t, c)
	eventually(t, "the listener field renewed past two of its lengths", func() bool {
		return listenField(t, c, n) > start+2*d.Milliseconds()
	})
	log.drain()
	enqueueOne(t, n, "b")
	if m := raw.next(); m != "1:q" {
		t.Fatalf("an enqueue while listened published %q, want 1:q", m)
	}
	log.until(t, backend.Wake{Queue: "q", Count: 1}, 10*time.Second)

	// A lost key: the next renewal sends Wake{}, and publishing resumes.
	if err := c.Del(ctx, n.k.prefix+lua.KeyListen, n.k.prefix+lua.KeyListenLife).Err(); err != nil {
		t.Fatal(err)
	}
	log.until(t, backend.Wake{}, 10*time.Second)
	enqueueOne(t, n, "c")
	if m := raw.next(); m != "1:q" {
		t.Fatalf("an enqueue after the renewal published %q, want 1:q", m)
	}

	stop()
	f := listenField(t, c, n)
	eventually(t, "the listener field lapsed after stop", func() bool { return serverMS(t, c) > f })
	if g := listenField(t, c, n); g != f {
		t.Fatalf("listener field renewed after stop: %d, then %d", f, g)
	}
	enqueueOne(t, n, "d")
	raw.none("an enqueue after the last listener stopped")
}

// TestWaiterHearsAfterRenewals (S3.4): a keyq consumer that waits longer than
// several lengths of the listener field is still woken by an enqueue, at once
// and not at the end of its wait; so is the next one, after a lost field.
func TestWaiterHearsAfterRenewals(t *testing.T) {
	const d = 400 * time.Millisecond
	rb, c := shortListen(t, d)
	w := &watchNS{namespace: rb.handle("wake"), empty: make(chan struct{}, 1)}
	q, err := keyq.New(watchBackend{rb, w}, "wake", keyq.Queues("q"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for round, lose := range []bool{false, true} {
		got := make(chan error, 1)
		go func() {
			ls, err := q.Dequeue(ctx, keyq.Wait(time.Minute))
			if err == nil && len(ls) != 1 {
				err = fmt.Errorf("woke with %d tasks", len(ls))
			}
			got <- err
		}()
		select {
		case <-w.empty:
		case err := <-got:
			t.Fatalf("round %d: the consumer returned before it found the queue empty: %v", round, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the consumer's Dequeue did not come within 10s", round)
		}
		start := serverMS(t, c)
		eventually(t, "the listener field renewed past two of its lengths", func() bool {
			return listenField(t, c, w.namespace) > start+2*d.Milliseconds()
		})
		if lose {
			if err := c.Del(ctx, w.k.prefix+lua.KeyListen, w.k.prefix+lua.KeyListenLife).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg(fmt.Sprint("t", round), 25)}}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the waiting consumer was not woken within 10s of the enqueue", round)
		}
	}
}
