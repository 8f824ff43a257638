package keyqprom_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
)

// waitFor bounds every wait of these tests.
const waitFor = 20 * time.Second

// backends are the stores the tests run on: memory, and the Redis backend on an
// embedded miniredis.
var backends = []struct {
	name string
	open func(t *testing.T) backend.Backend
}{
	{"memory", func(t *testing.T) backend.Backend {
		b := memory.New()
		t.Cleanup(func() { _ = b.Close() })
		return b
	}},
	{"miniredis", func(t *testing.T) backend.Backend {
		mr := miniredis.RunT(t)
		b, err := redisbackend.OpenURL(context.Background(), "redis://"+mr.Addr(), redisbackend.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}},
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("%s did not happen within %v", what, waitFor)
		var zero T
		return zero
	}
}
