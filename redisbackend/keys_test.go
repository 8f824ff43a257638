package redisbackend

import (
	"strings"
	"testing"
)

// hashTag returns the part of key that Redis Cluster hashes: the bytes between the
// first '{' and the first '}' after it, when that is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// TestKeysOneSlotPerNamespace: every key of a namespace, whatever bytes its name and
// its queue names hold, hashes on the same tag, and no two namespaces share a tag.
func TestKeysOneSlotPerNamespace(t *testing.T) {
	names := []string{"callapp", "}", "{", "a{b", "a}b", "{}", "%", "%7B", "%7D", "%25", "a:b", "a b", "\x00\xff", "{a}"}
	seen := make(map[string]string)
	for _, ns := range names {
		k := newNSKeys("keyq", ns)
		tag := hashTag(k.all[0])
		if prev, ok := seen[tag]; ok {
			t.Fatalf("namespaces %q and %q share the hash tag %q", prev, ns, tag)
		}
		seen[tag] = ns
		others := append([]string{}, k.all...)
		others = append(others, k.channel, k.answer("key {x}"), k.job("12"), k.limiter("a}b"), k.prefix+"q:queue{}}")
		for _, key := range others {
			if got := hashTag(key); got != tag {
				t.Errorf("namespace %q: key %q hashes on %q, want %q", ns, key, got, tag)
			}
		}
	}
}
