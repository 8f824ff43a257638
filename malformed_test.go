package keyq

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// TestMalformedReplies checks that a driver reply that breaks the contract is an
// error naming it, never a success: a zero SettleResult, SettleDead for an ack,
// a result count that is not the item count, a deadline count that is not the
// lease count.
func TestMalformedReplies(t *testing.T) {
	ctx := context.Background()
	l := &Lease{Task: backend.Task{ID: "1"}, Token: "1"}
	for _, tc := range []struct {
		name     string
		settled  []backend.SettleResult
		extended []backend.ExtendResult
		call     func(c *Client) error
	}{
		{"zero result", []backend.SettleResult{0}, nil, func(c *Client) error { return c.Ack(ctx, l) }},
		{"no result", nil, nil, func(c *Client) error { return c.Release(ctx, l) }},
		{"two results for one", []backend.SettleResult{backend.SettleDone, backend.SettleDone}, nil, func(c *Client) error { return c.Ack(ctx, l) }},
		{"an ack dead-lettered", []backend.SettleResult{backend.SettleDead}, nil, func(c *Client) error { return c.Ack(ctx, l) }},
		{"no deadline", nil, nil, func(c *Client) error { return c.Extend(ctx, l, time.Minute) }},
		{"two deadlines for one", nil, []backend.ExtendResult{{}, {}}, func(c *Client) error { return c.Extend(ctx, l, time.Minute) }},
		{"cancelled with a deadline", nil, []backend.ExtendResult{{Deadline: time.Unix(1, 0), Cancelled: true}}, func(c *Client) error { return c.Extend(ctx, l, time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeStore()
			s.settled, s.extended = tc.settled, tc.extended
			err := tc.call(fakeClient(t, s, false))
			if err == nil || !strings.Contains(err.Error(), "malformed reply") || errors.Is(err, ErrLeaseLost) {
				t.Fatalf("got %v, want a malformed-reply error", err)
			}
		})
	}
	s := newFakeStore()
	s.settled = []backend.SettleResult{backend.SettleDead}
	if err := fakeClient(t, s, false).Release(ctx, l); err != nil {
		t.Fatalf("a release dead-lettered: %v, want nil", err)
	}
}
