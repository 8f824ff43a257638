package redisbackend_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/redisbackend"
)

func TestOpenURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := redisbackend.OpenURL(ctx, redistest.URL(t), redisbackend.Options{Prefix: "openurl-test"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := keyq.New(b, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, keyq.DefaultQueue, []byte("x")); err != nil {
		t.Fatalf("Enqueue through OpenURL: %v", err)
	}
	if l, err := q.Next(ctx); err != nil || l == nil || string(l.Payload) != "x" {
		t.Fatalf("Next = %v, %v", l, err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	if _, err := redisbackend.OpenURL(ctx, "not a url", redisbackend.Options{}); !errors.Is(err, keyq.ErrInvalid) {
		t.Fatalf("bad URL: %v, want ErrInvalid", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	if _, err := redisbackend.OpenURL(ctx, "redis://"+addr, redisbackend.Options{}); !errors.Is(err, keyq.ErrUnavailable) {
		t.Fatalf("refused connection: %v, want ErrUnavailable", err)
	}
}
