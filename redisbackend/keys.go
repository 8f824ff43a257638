package redisbackend

import (
	"crypto/sha256"
	"strings"

	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// nsKeys are the key names of one namespace. Every one starts with the namespace's
// prefix, "<Prefix>:{<escaped namespace>}:", so all of them hash to one cluster slot
// and one script can touch them all. Their names are internal/lua's (lua.Key*), and
// all is the KEYS every namespace script takes (lua.Keys).
type nsKeys struct {
	prefix  string
	all     []string // seq, delayed, leases, lease, stats, dead, deadz, queues, prefix, epoch
	channel string   // the wake-up Pub/Sub channel
}

func newNSKeys(prefix, ns string) *nsKeys {
	p := prefix + ":{" + escapeTag(ns) + "}:"
	return &nsKeys{prefix: p, all: lua.Keys(p), channel: p + lua.Channel}
}

// with returns the KEYS of a call: the namespace's ten, then the request key req,
// or the prefix key (KEYS[9] again, never touched) when req is "", then extra.
func (k *nsKeys) with(req string, extra ...string) []string {
	if req == "" {
		req = k.all[8]
	}
	keys := make([]string, 0, len(k.all)+1+len(extra))
	return append(append(append(keys, k.all...), req), extra...)
}

func (k *nsKeys) answer(key string) string   { return k.prefix + lua.KeyAnswer + string(digest(key)) }
func (k *nsKeys) queue(q string) string      { return k.prefix + lua.KeyQueue + q }
func (k *nsKeys) job(id string) string       { return k.prefix + lua.KeyJob + id }
func (k *nsKeys) limiter(name string) string { return k.prefix + lua.KeyLimiter + name }

// escapeTag percent-encodes '%', '{' and '}' so that the escaped namespace can sit
// inside a hash tag: the tag then ends at our own '}', and two namespaces never
// escape to the same string.
func escapeTag(ns string) string {
	if !strings.ContainsAny(ns, "%{}") {
		return ns
	}
	var b strings.Builder
	for i := 0; i < len(ns); i++ {
		switch c := ns[i]; c {
		case '%':
			b.WriteString("%25")
		case '{':
			b.WriteString("%7B")
		case '}':
			b.WriteString("%7D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// digest is the first lua.DigestLen bytes of the SHA-256 of a task key. Answers and the
// key index are addressed by it, so a key may be a payload of any size.
func digest(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:lua.DigestLen]
}
