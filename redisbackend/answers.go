package redisbackend

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/keyq/keyq/backend"
)

// An answer is one string per task key, named after the key's digest:
// "<ok><full TTL ms>:<value>" (storedAnswer), with a PX of that TTL. A TTL refresh,
// on a dedupe or a refreshing read, is PEXPIRE with the stored TTL. A read gives
// the time left by PTTL, in the same script. SetAnswer and GetAnswer change no
// task and run no housekeeping; DeleteAnswer, an Admin call, does (backend/doc.go).

// The answer scripts take the answer's key as KEYS[12], after the optional request
// key (runReq), so that a cluster client routes by keys it is given.

// SetAnswer implements backend.Namespace.
func (n *namespace) SetAnswer(ctx context.Context, p backend.SetAnswerParams) error {
	if err := n.b.begin(ctx, &p); err != nil {
		return err
	}
	ttl := durMS(p.Answer.TTL)
	_, err := n.b.run(ctx, scriptSetAnswer, n.k.with("", n.k.answer(p.Key)),
		storedAnswer(p.Answer.Value, p.Answer.OK, ttl), ttl)
	return err
}

// GetAnswer implements backend.Namespace.
func (n *namespace) GetAnswer(ctx context.Context, p backend.GetAnswerParams) (backend.Answer, error) {
	if err := n.b.begin(ctx, &p); err != nil {
		return backend.Answer{}, err
	}
	s := scriptGetAnswer
	if p.Refresh { // a write: no read-only twin
		s = scriptGetAnswerRefresh
	}
	r, err := n.b.run(ctx, s, n.k.with("", n.k.answer(p.Key)), flag(p.Refresh))
	if err != nil {
		return backend.Answer{}, err
	}
	return decodeAnswer(r[1:])
}

// decodeAnswer reads the reply {value, ok, ttl, ms left}; an empty reply is
// ErrNotFound. The time left is a number (PTTL's) or a string (the full TTL, after
// a refresh).
func decodeAnswer(v []any) (backend.Answer, error) {
	if len(v) == 0 {
		return backend.Answer{}, backend.ErrNotFound
	}
	if len(v) != 4 {
		return backend.Answer{}, corrupt("answer reply of %d items", len(v))
	}
	value, err1 := str(v[0])
	ok, err2 := str(v[1])
	ttl, err3 := str(v[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return backend.Answer{}, err
	}
	ms, err := strconv.ParseInt(ttl, 10, 64)
	if err != nil || ms <= 0 || (ok != "0" && ok != "1") {
		return backend.Answer{}, corrupt("answer with ok %q and ttl %q", ok, ttl)
	}
	var left int64 = -1
	switch l := v[3].(type) {
	case int64:
		left = l
	case string:
		if n, err := strconv.ParseInt(l, 10, 64); err == nil {
			left = n
		}
	}
	// PTTL is -1 for a key without an expiry: not an answer keyq stored.
	if left < 0 || left > ms {
		return backend.Answer{}, corrupt("answer with ttl %d ms and %v ms left", ms, v[3])
	}
	return backend.Answer{Value: []byte(value), OK: ok == "1",
		TTL: time.Duration(ms) * time.Millisecond, Left: time.Duration(left) * time.Millisecond}, nil
}

// DeleteAnswer implements backend.Admin.
func (n *namespace) DeleteAnswer(ctx context.Context, p backend.DeleteAnswerParams) error {
	if err := n.b.begin(ctx, &p); err != nil {
		return err
	}
	r, err := n.b.runReq(ctx, scriptDelAnswer, n.k, nil, n.k.answer(p.Key))
	if r == nil { // else err is nil or ErrNotReplicated
		return err
	}
	if len(r) != 2 {
		return corrupt("delete answer reply of %d items", len(r))
	}
	deleted, ierr := integer(r[1])
	switch {
	case ierr != nil:
		return ierr
	case deleted == 0:
		return backend.ErrNotFound
	}
	return err
}

// storedAnswer is an answer as Redis stores it: "<ok><TTL ms>:<value>", ok "1" or
// "0"; getanswer.lua and the dedupe in dequeue.lua read it back.
func storedAnswer(value []byte, ok bool, ttl int64) []byte {
	out := make([]byte, 0, len(value)+24)
	out = append(out, flag(ok)...)
	out = strconv.AppendInt(out, ttl, 10)
	out = append(out, ':')
	return append(out, value...)
}
