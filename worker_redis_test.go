package keyq_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/redisbackend"
)

func init() { backends = append(backends, backendFactory{"redis", newRedisEnv}) }

func newRedisBackend(t testing.TB, url string) *redisbackend.Backend {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	b, err := redisbackend.New(rc, redisbackend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		_ = rc.Close()
	})
	return b
}

func newRedisEnv(t *testing.T, _ bool, opts ...keyq.Option) env {
	t.Helper()
	b := newRedisBackend(t, redistest.URL(t))
	c, err := keyq.New(b, namespace(t), append([]keyq.Option{keyq.WithOpTimeout(waitFor)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return env{client: c, wclock: clock.NewFake(epoch), redis: true}
}
