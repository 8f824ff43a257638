package redisbackend

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// go-redis sends a command again after some network errors (a reply that never
// came, a connection that broke), and the first send may have run: a script run
// twice would queue a batch twice, or report ErrLeaseLost for an ack it made. So
// every call that changes state runs its script under a request key, i:<16
// random bytes>, that the script checks before it writes anything and in which it
// stores its outcome (scripts/common/begin.lua, Requests). A resend finds it and returns
// that outcome, changing nothing. Each call pays one SET with PX on the server,
// however many tasks it carries: the key is read in the MGET of the namespace's
// state that the call makes anyway. A client that never resends
// (MaxRetries: -1, and for a cluster MaxRedirects: -1 as well) needs none of it,
// and the Backend then sends no request key.

// Request keys live for as long as a resend of their call may arrive: the time
// left until the call's deadline plus reqSlack, between reqMin and reqMax, or
// reqMax for a call without a deadline. go-redis starts no new try after the
// context is done, and without a deadline its own timeouts end a call long before
// reqMax with the default options.
const (
	reqSlack = 2 * time.Second
	reqMin   = 2 * time.Second
	reqMax   = time.Minute
)

// clientResends reports whether c may send a command again after a network error.
// It reads the options go-redis settled on (-1 has then become 0); a client it does
// not know counts as one that resends.
func clientResends(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().MaxRetries > 0
	case *redis.ClusterClient:
		o := c.Options()
		return o.MaxRetries > 0 || o.MaxRedirects > 0
	case *redis.Ring:
		return c.Options().MaxRetries > 0
	}
	return true
}

// runReq runs a script that changes state, as run does, under a fresh request key
// (KEYS[11]) when the client may resend; the request's TTL in ms, or "" without
// one, goes as the last argument. Without a request key KEYS[11] is the
// namespace's prefix key, which no script touches, so that the extra keys of a
// call, after it, keep their places. args must not be used by another call
// meanwhile: the TTL is appended in place when it has room.
func (b *Backend) runReq(ctx context.Context, s *script, k *nsKeys, args []any, extra ...string) ([]any, error) {
	if !b.resends {
		return b.run(ctx, s, k.with("", extra...), append(args, "")...)
	}
	ttl := reqMax
	if d, ok := ctx.Deadline(); ok {
		ttl = min(max(time.Until(d)+reqSlack, reqMin), reqMax)
	}
	var req string
	if b.testRequest != nil {
		req = b.testRequest(k)
	} else {
		var id [16]byte
		binary.LittleEndian.PutUint64(id[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
		req = k.prefix + "i:" + string(id[:])
	}
	v, err := b.exec(ctx, s, k.with(req, extra...), append(args, strconv.FormatInt(ttl.Milliseconds(), 10))...)
	return replyOf(ctx, v, err)
}
