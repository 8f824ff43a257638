package redisbackend

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
	"github.com/redis/go-redis/v9"
)

// TestBlobEncodingLua: a task encoded by encodeMessage reads the same in the
// scripts' Lua (scripts/common/codec.lua), and the blob Lua puts together from
// it, as enqueue.lua does, decodes back to the task with decodeBlob.
func TestBlobEncodingLua(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer c.Close()
	m := backend.Message{Type: "t", Key: "k", Payload: []byte("payload"), Headers: map[string]string{"h": "v"}, MaxAttempts: 300}
	pre, rest := encodeMessage(&m, 3600000)
	upre, urest := encodeMessage(&m, 0)
	probe := lua.Script(commonCode, `--@common
local b = ARGV[1] .. enc48(tonumber(ARGV[3])) .. string.char(#ARGV[4]) .. ARGV[4] .. ARGV[2]
b = blob_set_attempt(b, 2)
return {b, blob_attempt(b), blob_max(b), blob_digest(b), blob_enqueued(b), blob_id(b), blob_tracked(b) and 1 or 0,
  blob_job_ttl(b) or 'none', blob_job_ttl(ARGV[5] .. enc48(0) .. string.char(1) .. '7' .. ARGV[6]) or 'none'}`, false)
	v, err := c.Eval(context.Background(), probe, newNSKeys("keyq", "ns").all, pre, rest, "1700000000123", "42", upre, urest).Result()
	if err != nil {
		t.Fatal(err)
	}
	r := v.([]any)
	if got, want := r[1:], []any{int64(2), int64(300), string(digest("k")), int64(1700000000123), "42", int64(1), "3600000", "none"}; !cmp.Equal(got, want) {
		t.Errorf("Lua reads %q, want %q", got, want)
	}
	task, err := decodeBlob("q", []byte(r[0].(string)))
	if err != nil {
		t.Fatal(err)
	}
	want := backend.Task{ID: "42", Queue: "q", Type: "t", Key: "k", Payload: []byte("payload"),
		Headers: map[string]string{"h": "v"}, Attempt: 2, MaxAttempts: 300, EnqueuedAt: msTime(1700000000123)}
	if d := cmp.Diff(want, task); d != "" {
		t.Errorf("decoded (-want +got):\n%s", d)
	}
}
