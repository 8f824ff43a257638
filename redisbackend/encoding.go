package redisbackend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// A blob is one task as the queue lists store it. Its fixed header, up to and
// including the task ID, and the job TTL of a tracked task after it, are
// internal/lua's (lua.Blob*), which scripts read and write too; only Go reads the
// rest: type, key (left out when it equals the payload), headers, each
// uvarint-length-prefixed (headers as a count then key, value pairs), then the
// payload up to the end.
//
// The common case, a key that is the payload and no headers, costs 30 bytes plus
// the ID over the bare payload.

var errCorrupt = errors.New("redisbackend: corrupt record")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCorrupt}, args...)...)
}

// encodeMessage returns the parts of a blob Go writes: the header up to the digest,
// and the rest after the task ID. jobTTL is the job TTL in ms of a tracked task,
// 0 for a task without a job record.
func encodeMessage(m *backend.Message, jobTTL int64) (pre, rest []byte) {
	flags := byte(lua.BlobVersion << lua.VersionShift)
	keyIsPayload := m.Key == string(m.Payload)
	if keyIsPayload {
		flags |= lua.FlagKeyIsPayload
	}
	if jobTTL > 0 {
		flags |= lua.FlagTracked | lua.FlagJobTTL
	}
	pre = make([]byte, lua.BlobPreLen)
	pre[lua.BlobFlags] = flags
	binary.BigEndian.PutUint16(pre[lua.BlobMax:], uint16(m.MaxAttempts))
	copy(pre[lua.BlobDigest:], digest(m.Key))

	n := len(m.Type) + len(m.Payload) + 2*binary.MaxVarintLen64
	if !keyIsPayload {
		n += len(m.Key) + binary.MaxVarintLen64
	}
	for k, v := range m.Headers {
		n += len(k) + len(v) + 2*binary.MaxVarintLen64
	}
	rest = make([]byte, 0, n+lua.BlobJobTTLLen)
	if jobTTL > 0 {
		rest = append(rest, byte(jobTTL>>40), byte(jobTTL>>32), byte(jobTTL>>24),
			byte(jobTTL>>16), byte(jobTTL>>8), byte(jobTTL))
	}
	rest = appendString(rest, m.Type)
	if !keyIsPayload {
		rest = appendString(rest, m.Key)
	}
	rest = binary.AppendUvarint(rest, uint64(len(m.Headers)))
	keys := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rest = appendString(rest, k)
		rest = appendString(rest, m.Headers[k])
	}
	return pre, append(rest, m.Payload...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeBlob decodes a stored task of the given queue.
func decodeBlob(queue string, b []byte) (backend.Task, error) {
	var t backend.Task
	if len(b) < lua.BlobID {
		return t, corrupt("task of %d bytes", len(b))
	}
	flags := b[lua.BlobFlags]
	if flags>>lua.VersionShift != lua.BlobVersion {
		return t, corrupt("task version %d", flags>>lua.VersionShift)
	}
	idLen := int(b[lua.BlobIDLen])
	if idLen == 0 || len(b) < lua.BlobID+idLen {
		return t, corrupt("task ID of %d bytes", idLen)
	}
	id := string(b[lua.BlobID : lua.BlobID+idLen])
	if !isDecimal(id) {
		return t, corrupt("task ID %q", id)
	}
	t.ID = id
	t.Queue = queue
	t.Attempt = int(binary.BigEndian.Uint16(b[lua.BlobAttempt:]))
	t.MaxAttempts = int(binary.BigEndian.Uint16(b[lua.BlobMax:]))
	t.EnqueuedAt = msTime(int64(uint48(b[lua.BlobEnqueued:])))
	r := reader{b: b[lua.BlobID+idLen:]}
	if flags&lua.FlagJobTTL != 0 {
		if flags&lua.FlagTracked == 0 || len(r.b) < lua.BlobJobTTLLen {
			return t, corrupt("job TTL of an untracked task or of %d bytes", len(r.b))
		}
		r.b = r.b[lua.BlobJobTTLLen:]
	}
	t.Type = r.string()
	if flags&lua.FlagKeyIsPayload == 0 {
		t.Key = r.string()
	}
	if nh := r.uvarint(); nh > 0 && r.err == nil {
		if nh > uint64(len(r.b)) {
			return t, corrupt("%d headers in %d bytes", nh, len(r.b))
		}
		t.Headers = make(map[string]string, nh)
		for range nh {
			k := r.string()
			t.Headers[k] = r.string()
		}
	}
	if r.err != nil {
		return backend.Task{}, r.err
	}
	t.Payload = append([]byte{}, r.b...)
	if flags&lua.FlagKeyIsPayload != 0 {
		t.Key = string(t.Payload)
	}
	return t, nil
}

func uint48(b []byte) uint64 {
	var v uint64
	for _, c := range b[:6] {
		v = v<<8 | uint64(c)
	}
	return v
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = corrupt("bad length")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = corrupt("string of %d bytes in %d", n, len(r.b))
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// unpackFields reads n fields written by pack in scripts/common/codec.lua, each
// "<decimal length>:<bytes>", and returns them and the rest of s.
func unpackFields(s string, n int) ([]string, string, error) {
	out := make([]string, n)
	for i := range n {
		c := strings.IndexByte(s, ':')
		if c < 1 || c > 10 || !isDecimal(s[:c]) || (c > 1 && s[0] == '0') {
			return nil, "", corrupt("packed field %d", i)
		}
		l, _ := strconv.Atoi(s[:c])
		if l > len(s)-c-1 {
			return nil, "", corrupt("packed field %d of %d bytes in %d", i, l, len(s)-c-1)
		}
		out[i] = s[c+1 : c+1+l]
		s = s[c+1+l:]
	}
	return out, s, nil
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms) }

// durMS converts a duration to whole milliseconds for a script, rounding up so that
// a positive duration never becomes zero.
func durMS(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
