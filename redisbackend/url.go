package redisbackend

import (
	"context"
	"fmt"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// OpenURL connects to the single server at a redis:// or rediss:// URL, checks that
// it answers, and returns a backend that owns the connection: its Close closes the
// client too. A bad URL is ErrInvalid; a server that does not answer is
// ErrUnavailable (or ErrTimeout when ctx runs out). For Sentinel or Cluster, or a
// client shared with other code, make the client yourself and call New.
func OpenURL(ctx context.Context, url string, opts Options) (*Backend, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: redis URL: %w", backend.ErrInvalid, err)
	}
	client := redis.NewClient(o)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis at %s: %w", o.Addr, mapErr(ctx, err))
	}
	b, err := New(client, opts)
	if err == nil {
		if err = b.checkEviction(ctx); err != nil {
			err = fmt.Errorf("redis at %s: %w", o.Addr, mapErr(ctx, err))
		}
	}
	if err != nil {
		client.Close()
		return nil, err
	}
	b.owned = client
	return b, nil
}
