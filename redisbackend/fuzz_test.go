package redisbackend

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// buildBlob puts together a blob as scripts/enqueue.lua does.
func buildBlob(pre, rest []byte, enqMS uint64, id string) []byte {
	b := append([]byte{}, pre...)
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], enqMS)
	b = append(b, ms[2:]...)
	b = append(b, byte(len(id)))
	b = append(b, id...)
	return append(b, rest...)
}

// FuzzDecodeBlob: decoding never panics, and a decoded task encodes back to a blob
// that decodes to the same task.
func FuzzDecodeBlob(f *testing.F) {
	m := backend.Message{Type: "t", Key: "k", Payload: []byte("p"), Headers: map[string]string{"a": "b"}, MaxAttempts: 3}
	pre, rest := encodeMessage(&m, 3600000)
	f.Add("q", buildBlob(pre, rest, 1_700_000_000_000, "42"))
	m2 := backend.Message{Payload: []byte("same"), Key: "same", MaxAttempts: 1}
	pre, rest = encodeMessage(&m2, 0)
	f.Add("queue {x}", buildBlob(pre, rest, 0, "1"))
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, queue string, b []byte) {
		task, err := decodeBlob(queue, b)
		if err != nil {
			return
		}
		m := backend.Message{Type: task.Type, Key: task.Key, Payload: task.Payload, Headers: task.Headers, MaxAttempts: task.MaxAttempts}
		var ttl int64
		if b[lua.BlobFlags]&lua.FlagTracked != 0 {
			ttl = 1
		}
		pre, rest := encodeMessage(&m, ttl)
		binary.BigEndian.PutUint16(pre[1:], uint16(task.Attempt))
		again, err := decodeBlob(queue, buildBlob(pre, rest, uint48(b[21:27]), task.ID))
		if err != nil {
			t.Fatalf("re-encoded task does not decode: %v", err)
		}
		if diff := cmp.Diff(task, again); diff != "" {
			t.Fatalf("round trip changed the task (-first +again):\n%s", diff)
		}
	})
}

// FuzzUnpackFields: unpacking never panics, and packing the fields again gives the
// input back.
func FuzzUnpackFields(f *testing.F) {
	f.Add("1:q3:abcrest", 2)
	f.Add("0:", 1)
	f.Add("99999999999:x", 1)
	f.Add("-1:x", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 8 {
			return
		}
		fields, rest, err := unpackFields(s, n)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, f := range fields {
			b.WriteString(strconv.Itoa(len(f)) + ":" + f)
		}
		b.WriteString(rest)
		if b.String() != s {
			t.Fatalf("repacked %q as %q", s, b.String())
		}
	})
}

// FuzzDecodeRecords: lease and dead-letter records and answer replies never panic.
func FuzzDecodeRecords(f *testing.F) {
	m := backend.Message{Key: "k", Payload: []byte("p"), MaxAttempts: 3}
	pre, rest := encodeMessage(&m, 0)
	blob := string(buildBlob(pre, rest, 1_700_000_000_000, "7"))
	f.Add("8", "1700000001000", "1:q"+blob, "1:q13:lease expired13:17000000010000:0:"+blob, "v", "1", "60000")
	f.Add("", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, token, deadline, lease, dead, value, ok, ttl string) {
		if l, err := decodeLease(token, deadline, lease); err == nil && l.Token != token {
			t.Fatalf("lease token %q, want %q", l.Token, token)
		}
		_, _ = decodeDead(dead)
		if a, err := decodeAnswer([]any{value, ok, ttl, deadline}); err == nil && !bytes.Equal(a.Value, []byte(value)) {
			t.Fatalf("answer value %q, want %q", a.Value, value)
		}
		_, _ = decodeJob("1", map[string]string{"status": ok, "attempts": ttl, "enq": deadline, "err": value})
		_, _ = decodeStats([]any{token, []any{value, ok, ttl, deadline, token, dead, lease}, "q", int64(1), ttl, value, "x"})
	})
}
