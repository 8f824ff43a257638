package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
	"github.com/redis/go-redis/v9"
)

// Backend names, as they appear in results and in sub-benchmark names.
const (
	MemoryBackend    = "memory"
	MiniredisBackend = "miniredis"
	RedisBackend     = "redis"
)

// OpenMemory returns a fresh in-memory backend.
func OpenMemory() *Target {
	return &Target{Name: MemoryBackend, Backend: memory.New()}
}

// OpenMiniredis starts an embedded miniredis server and returns the Redis backend
// on it. Close stops the server.
func OpenMiniredis() (*Target, error) {
	s, err := miniredis.Run()
	if err != nil {
		return nil, fmt.Errorf("bench: miniredis: %w", err)
	}
	client := redis.NewClient(&redis.Options{Addr: s.Addr(), PoolSize: 64})
	b, err := redisbackend.New(client, redisbackend.Options{})
	if err != nil {
		client.Close()
		s.Close()
		return nil, err
	}
	t := &Target{Name: MiniredisBackend, Backend: b}
	t.cleanup = append(t.cleanup, func(context.Context, []string) error {
		err := client.Close()
		s.Close()
		return err
	})
	return t, nil
}

// OpenRedis returns the Redis backend on the server at url (redis://host:port/db),
// and a client of its own for peers to use. Close deletes the namespaces the
// workloads made and closes the client.
func OpenRedis(ctx context.Context, url string) (*Target, error) {
	client, err := NewRedisClient(ctx, url)
	if err != nil {
		return nil, err
	}
	b, err := redisbackend.New(client, redisbackend.Options{})
	if err != nil {
		client.Close()
		return nil, err
	}
	t := &Target{Name: RedisBackend, Backend: b, Redis: client}
	t.UsedMemory = func(ctx context.Context) (int64, error) { return UsedMemory(ctx, client) }
	t.cleanup = append(t.cleanup, func(ctx context.Context, namespaces []string) error {
		var errs []error
		for _, ns := range namespaces {
			errs = append(errs, DeleteMatching(ctx, client, "keyq:{"+ns+"}*"))
		}
		return errors.Join(append(errs, client.Close())...)
	})
	return t, nil
}

// NewRedisClient connects to the server at url and checks it answers PING.
func NewRedisClient(ctx context.Context, url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("bench: redis URL %q: %w", url, err)
	}
	if opt.PoolSize == 0 {
		opt.PoolSize = 128
	}
	client := redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("bench: redis at %s: %w", url, err)
	}
	return client, nil
}

// UsedMemory returns the server's used_memory from INFO memory.
func UsedMemory(ctx context.Context, client redis.UniversalClient) (int64, error) {
	info, err := client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("bench: INFO memory has no used_memory")
}

// DeleteMatching unlinks every key matching the SCAN pattern.
func DeleteMatching(ctx context.Context, client redis.UniversalClient, pattern string) error {
	iter := client.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := client.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}
