package keyq

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/keyq/keyq/backend"
)

// Answer is the stored result of a task, kept under the task's key (S5).
type Answer struct {
	Value []byte        // JSON, as stored by WithAnswer or SetAnswer
	OK    bool          // false for an error answer
	TTL   time.Duration // the full TTL it was stored with
	// Left is the time the answer had left to live when it was read, on the
	// store's clock: between 0 and TTL, and TTL after a refreshing read. Add it
	// to your own clock's reading to know when it expires; the store's clock may
	// not agree with yours.
	Left time.Duration
}

// Decode unmarshals the answer's JSON value into v.
func (a Answer) Decode(v any) error { return json.Unmarshal(a.Value, v) }

// SetAnswer stores v, encoded as JSON, as the success answer for key, replacing any
// earlier answer and its TTL (S5.1).
func (c *Client) SetAnswer(ctx context.Context, key string, v any) error {
	return c.setAnswer(ctx, key, v, true)
}

// SetErrorAnswer stores v, encoded as JSON, as the error answer for key, kept for the
// error TTL (S5.1).
func (c *Client) SetErrorAnswer(ctx context.Context, key string, v any) error {
	return c.setAnswer(ctx, key, v, false)
}

func (c *Client) setAnswer(ctx context.Context, key string, v any, ok bool) error {
	a, err := c.encode(v, ok)
	if err != nil {
		return c.wrap("set answer", err)
	}
	p := backend.SetAnswerParams{Key: key, Answer: a}
	_, err = run(c, ctx, "set answer", &p, 0, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.h.SetAnswer(ctx, p)
	})
	return err
}

// Answer returns the answer stored for key, with the time it has left, or
// ErrNotFound. It leaves the TTL as it is (S5.2).
func (c *Client) Answer(ctx context.Context, key string) (Answer, error) {
	return c.getAnswer(ctx, key, false)
}

// AnswerRefresh returns the answer stored for key, or ErrNotFound, and resets its TTL
// to the full TTL it was stored with (S5.2); its Left is then that full TTL.
func (c *Client) AnswerRefresh(ctx context.Context, key string) (Answer, error) {
	return c.getAnswer(ctx, key, true)
}

func (c *Client) getAnswer(ctx context.Context, key string, refresh bool) (Answer, error) {
	p := backend.GetAnswerParams{Key: key, Refresh: refresh}
	a, err := run(c, ctx, "get answer", &p, 0, func(ctx context.Context) (backend.Answer, error) {
		return c.h.GetAnswer(ctx, p)
	})
	return Answer{Value: a.Value, OK: a.OK, TTL: a.TTL, Left: a.Left}, err
}

// Exists reports whether key has an answer. It leaves the answer's TTL alone.
func (c *Client) Exists(ctx context.Context, key string) (bool, error) {
	return exists(c.Answer(ctx, key))
}

// ExistsRefresh reports whether key has an answer and, if so, resets its TTL to the
// full TTL it was stored with (S5.2), so an answer that is still asked for stays.
func (c *Client) ExistsRefresh(ctx context.Context, key string) (bool, error) {
	return exists(c.AnswerRefresh(ctx, key))
}

func exists(_ Answer, err error) (bool, error) {
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeleteAnswer removes the answer for key, or returns ErrNotFound (S5.4). A
// backend without backend.Admin gives an error matching errors.ErrUnsupported.
func (c *Client) DeleteAnswer(ctx context.Context, key string) error {
	a, err := optional[backend.Admin](c, "delete answer")
	if err != nil {
		return err
	}
	p := backend.DeleteAnswerParams{Key: key}
	_, err = run(c, ctx, "delete answer", &p, 0, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, a.DeleteAnswer(ctx, p)
	})
	return err
}
