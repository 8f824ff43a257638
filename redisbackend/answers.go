package redisbackend

import (
	"context"
	"errors"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// An answer is one hash per task key, named after the key's digest, with fields v
// (the value), ok ("1" or "0") and ttl (the full TTL in ms), and a PEXPIRE of that
// TTL. A TTL refresh, on a dedupe or a refreshing read, is PEXPIRE with the stored
// ttl.

// SetAnswer implements backend.Backend.
func (b *Backend) SetAnswer(ctx context.Context, p backend.SetAnswerParams) error {
	if err := b.begin(ctx, p.Validate); err != nil {
		return err
	}
	k := b.nsKeys(p.Namespace).answer(p.Key)
	err := scriptSetAnswer.Run(ctx, b.client, []string{k}, p.Answer.Value, flag(p.Answer.OK), durMS(p.Answer.TTL)).Err()
	return mapErr(ctx, err)
}

// GetAnswer implements backend.Backend.
func (b *Backend) GetAnswer(ctx context.Context, p backend.GetAnswerParams) (backend.Answer, error) {
	if err := b.begin(ctx, p.Validate); err != nil {
		return backend.Answer{}, err
	}
	k := b.nsKeys(p.Namespace).answer(p.Key)
	var v []any
	var err error
	if p.Refresh {
		v, err = scriptGetAnswer.Run(ctx, b.client, []string{k}).Slice()
	} else {
		v, err = b.client.HMGet(ctx, k, "v", "ok", "ttl").Result()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return backend.Answer{}, mapErr(ctx, err)
	}
	return decodeAnswer(v)
}

// decodeAnswer reads the reply {value, ok, ttl}; an empty reply or a missing ttl is
// ErrNotFound.
func decodeAnswer(v []any) (backend.Answer, error) {
	if len(v) != 3 || v[2] == nil {
		return backend.Answer{}, backend.ErrNotFound
	}
	value, err1 := str(v[0])
	ok, err2 := str(v[1])
	ttl, err3 := str(v[2])
	if err := firstErr(err1, err2, err3); err != nil {
		return backend.Answer{}, err
	}
	ms := num(ttl)
	if ms <= 0 || (ok != "0" && ok != "1") {
		return backend.Answer{}, corrupt("answer with ok %q and ttl %q", ok, ttl)
	}
	return backend.Answer{Value: []byte(value), OK: ok == "1", TTL: time.Duration(ms) * time.Millisecond}, nil
}

// DeleteAnswer implements backend.Backend.
func (b *Backend) DeleteAnswer(ctx context.Context, p backend.DeleteAnswerParams) error {
	if err := b.begin(ctx, p.Validate); err != nil {
		return err
	}
	n, err := b.client.Del(ctx, b.nsKeys(p.Namespace).answer(p.Key)).Result()
	if err != nil {
		return mapErr(ctx, err)
	}
	if n == 0 {
		return backend.ErrNotFound
	}
	return nil
}
