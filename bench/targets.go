package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	// miniredis serves one command at a time, and its Lua is slow under the race
	// detector: on a loaded machine a call may queue for longer than go-redis's
	// default 3s read timeout. The workloads' own op timeout bounds each call.
	client := redis.NewClient(&redis.Options{Addr: s.Addr(), PoolSize: 64,
		ReadTimeout: OpTimeout, WriteTimeout: OpTimeout, ContextTimeoutEnabled: true})
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
	return OpenRedisOptions(ctx, url, redisbackend.Options{})
}

// OpenRedisOptions is OpenRedis with the backend's options, such as
// WaitReplicas (bench/peers measures its cost). Keep opts.Prefix empty: Close
// deletes the namespaces under the default prefix.
func OpenRedisOptions(ctx context.Context, url string, opts redisbackend.Options) (*Target, error) {
	client, err := NewRedisClient(ctx, url)
	if err != nil {
		return nil, err
	}
	b, err := redisbackend.New(client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	t := &Target{Name: RedisBackend, Backend: b, Redis: client}
	t.UsedMemory = func(ctx context.Context) (int64, error) { return UsedMemory(ctx, client) }
	t.KeysMemory = func(ctx context.Context, ns string) (int64, error) {
		return KeysMemory(ctx, client, "keyq:{"+ns+"}*")
	}
	t.cleanup = append(t.cleanup, func(ctx context.Context, namespaces []string) error {
		var errs []error
		for _, ns := range namespaces {
			_, err := b.DropNamespace(ctx, ns)
			errs = append(errs, err)
		}
		return errors.Join(append(errs, client.Close())...)
	})
	return t, nil
}

// NewRedisClient connects to the server at url and checks it answers PING. Its
// client ends each call by its context's deadline (ContextTimeoutEnabled). Its
// errors hold no secret of url.
func NewRedisClient(ctx context.Context, url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// go-redis's error may quote the URL, password and all.
		return nil, fmt.Errorf("bench: redis URL %s does not parse", redisbackend.RedactURL(url))
	}
	if opt.PoolSize == 0 {
		opt.PoolSize = 128
	}
	if opt.ReadTimeout == 0 && opt.WriteTimeout == 0 {
		// Not go-redis's 3s: on a loaded machine a slow call is a slow figure. The
		// workloads' op timeout bounds each call, and the caller's ctx the run.
		opt.ReadTimeout, opt.WriteTimeout, opt.ContextTimeoutEnabled = OpTimeout, OpTimeout, true
	}
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("bench: redis at %s: %w", opt.Addr, err)
	}
	return client, nil
}

// UsedMemory returns the server's used_memory from INFO memory, once the server
// has no lazy frees pending (of keys an earlier run unlinked), for up to 10s.
func UsedMemory(ctx context.Context, client redis.UniversalClient) (int64, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := client.Info(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		used, pending := infoField(info, "used_memory"), infoField(info, "lazyfree_pending_objects")
		if used == "" {
			return 0, errors.New("bench: INFO memory has no used_memory")
		}
		if pending == "0" || pending == "" || time.Now().After(deadline) {
			return strconv.ParseInt(used, 10, 64)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond): // poll the server's lazy-free thread
		}
	}
}

func infoField(info, name string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), name+":"); ok {
			return v
		}
	}
	return ""
}

// KeysMemory returns the sum of MEMORY USAGE (exact, SAMPLES 0) over the keys
// matching the SCAN pattern: what those keys take, whatever else the server does
// meanwhile. It leaves out the server's fixed overhead per key (its keyspace
// entry).
func KeysMemory(ctx context.Context, client redis.UniversalClient, pattern string) (int64, error) {
	iter := client.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, err
	}
	var total int64
	for len(keys) > 0 {
		k := min(len(keys), 500)
		cmds, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, key := range keys[:k] {
				p.MemoryUsage(ctx, key, 0)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, err
		}
		for _, c := range cmds {
			total += c.(*redis.IntCmd).Val() // a key gone meanwhile counts 0
		}
		keys = keys[k:]
	}
	return total, nil
}

// DeleteMatching unlinks every key matching the SCAN pattern: for the keys of
// other queues that bench/peers measures. A keyq namespace is deleted with
// redisbackend's DropNamespace, which also finds its keys on every master of a
// cluster and escapes the namespace in the pattern.
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
