package redisbackend

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// TestErrorRefused: a server that refuses connections is ErrUnavailable, and the
// cause stays reachable.
func TestErrorRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer client.Close()
	b, err := New(client, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = nsOf(b, "ns").Enqueue(ctx, backend.EnqueueParams{Queue: "q",
		Tasks: []backend.Message{{Payload: []byte("x"), Key: "x", MaxAttempts: 1}}})
	if !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Enqueue to a closed port: %v, want ErrUnavailable wrapping ECONNREFUSED", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("Enqueue to a closed port: %v does not reach the *net.OpError", err)
	}
	_, err = nsOf(b, "ns").Notify(ctx, func(backend.Wake) {})
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Notify on a closed port: %v, want ErrUnavailable", err)
	}
}

// TestErrorTimeout: a server that accepts connections and never answers is
// ErrTimeout, which also matches context.DeadlineExceeded.
func TestErrorTimeout(t *testing.T) {
	addr := silentServer(t)
	for _, tc := range []struct {
		name string
		opts redis.Options
		ctx  time.Duration
	}{
		{"context deadline", redis.Options{ContextTimeoutEnabled: true, MaxRetries: -1}, 200 * time.Millisecond},
		{"read timeout", redis.Options{ReadTimeout: 200 * time.Millisecond, MaxRetries: -1}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Addr = addr
			client := redis.NewClient(&opts)
			defer client.Close()
			b, err := New(client, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			start := time.Now()
			_, err = nsOf(b, "ns").Stats(ctx, backend.StatsParams{})
			if !errors.Is(err, backend.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Stats on a silent server: %v, want ErrTimeout", err)
			}
			// Only a bound on a hang: the call must end long before a minute's context.
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("Stats on a silent server took %v", d)
			}
		})
	}
}

// TestErrorCancel: a cancelled context comes back as context.Canceled itself.
func TestErrorCancel(t *testing.T) {
	b := newMini(t).b
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := nsOf(b, "ns").Stats(ctx, backend.StatsParams{})
	if err != context.Canceled {
		t.Fatalf("Stats with a cancelled context: %v, want context.Canceled as is", err)
	}
}

// TestErrorNoRedisNil: answers, job records and dead tasks that are missing are
// ErrNotFound, never redis.Nil.
func TestErrorNoRedisNil(t *testing.T) {
	b := newMini(t).b
	ctx := context.Background()
	for name, err := range map[string]error{
		"GetAnswer": func() error {
			_, err := nsOf(b, "ns").GetAnswer(ctx, backend.GetAnswerParams{Key: "k"})
			return err
		}(),
		"GetAnswer refresh": func() error {
			_, err := nsOf(b, "ns").GetAnswer(ctx, backend.GetAnswerParams{Key: "k", Refresh: true})
			return err
		}(),
		"DeleteAnswer": nsOf(b, "ns").DeleteAnswer(ctx, backend.DeleteAnswerParams{Key: "k"}),
		"Job": func() error {
			_, err := nsOf(b, "ns").Job(ctx, backend.JobParams{ID: "1"})
			return err
		}(),
	} {
		if !errors.Is(err, backend.ErrNotFound) || errors.Is(err, redis.Nil) {
			t.Errorf("%s: %v, want ErrNotFound and not redis.Nil", name, err)
		}
	}
}

// TestErrorTimeoutWaiting: a Dequeue on a server that never answers ends with
// ErrTimeout soon after its context's deadline and DequeueGrace, and so does a
// Notify whose subscription is never confirmed.
func TestErrorTimeoutWaiting(t *testing.T) {
	// Closed after the silent server is gone (cleanups run last first): a Close
	// while the server holds the connections waits on their I/O.
	var b *Backend
	var client *redis.Client
	t.Cleanup(func() {
		if b != nil {
			b.Close()
		}
		if client != nil {
			client.Close()
		}
	})
	addr := silentServer(t)
	client = redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	var err error
	b, err = New(client, Options{DequeueGrace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct {
		name string
		f    func(ctx context.Context) error
	}{
		{"Dequeue", func(ctx context.Context) error { _, err := nsOf(b, "ns").Dequeue(ctx, dq()); return err }},
		{"Notify", func(ctx context.Context) error {
			_, err := nsOf(b, "ns").Notify(ctx, func(backend.Wake) {})
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := call.f(ctx)
		cancel()
		if !errors.Is(err, backend.ErrTimeout) {
			t.Fatalf("%s on a silent server: %v, want ErrTimeout", call.name, err)
		}
		// Only a bound on a hang.
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("%s on a silent server took %v", call.name, d)
		}
	}
}

// silentServer listens on a loopback port, accepts connections, and never reads or
// answers; it stops when t ends. It returns its address.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // read nothing, answer nothing
		}
	}()
	return l.Addr().String()
}

// replyErr is an error reply as go-redis reports it.
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

// TestErrorInsideScript: Redis 6.2 and KeyDB report a command a script's first
// write was refused with inside the script's error, where Redis 7 passes the
// command's own code on. Both forms map alike: out of memory is ErrFull, a
// read-only replica ErrUnavailable; any other script error neither.
func TestErrorInsideScript(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		reply string
		want  error
	}{
		{"OOM command not allowed when used memory > 'maxmemory'.", backend.ErrFull},
		{"ERR Error running script (call to f_cf5e): @user_script:215: @user_script: 215: -OOM command not allowed when used memory > 'maxmemory'.", backend.ErrFull},
		{"READONLY You can't write against a read only replica.", backend.ErrUnavailable},
		{"ERR Error running script (call to f_cf5e): @user_script:215: @user_script: 215: -READONLY You can't write against a read only replica.", backend.ErrUnavailable},
		{"ERR Error running script (call to f_cf5e): @user_script:215: @user_script: 215: -LOADING Redis is loading the dataset in memory", backend.ErrUnavailable},
		{"ERR Error running script (call to f_cf5e): @user_script:12: Script attempted to access nonexistent global variable 'OOM'", nil},
		{"ERR keyq: bad ack count -OOM x", nil},
	} {
		err := mapErr(ctx, replyErr(c.reply))
		for _, s := range []error{backend.ErrFull, backend.ErrUnavailable} {
			if got := errors.Is(err, s); got != (s == c.want) {
				t.Errorf("mapErr(%q) = %v: errors.Is(%v) = %v", c.reply, err, s, got)
			}
		}
		var re redis.Error
		if !errors.As(err, &re) {
			t.Errorf("mapErr(%q) = %v: the reply is not reachable", c.reply, err)
		}
	}
}
