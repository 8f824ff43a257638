package redisbackend

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scanCount is the COUNT hint of each SCAN call: large enough to walk a big key
// space in few round trips, small enough that no single call holds the server long.
const scanCount = 1000

// Namespaces returns the namespaces that hold keys under the backend's prefix,
// sorted; see backend.NamespaceLister. It walks the key space with SCAN, never
// KEYS, so the server stays responsive, and on a cluster it walks every master.
// Its cost grows with every key on the server, keyq's or not; ctx bounds it.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	if err := b.begin(ctx, nil); err != nil {
		return nil, err
	}
	start := b.opts.Prefix + ":{"
	pattern := globEscape(start) + "*"
	var (
		mu    sync.Mutex
		found = make(map[string]struct{})
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, scanCount).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			for _, k := range keys {
				if ns, ok := namespaceOf(k, start); ok {
					found[ns] = struct{}{}
				}
			}
			mu.Unlock()
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	switch c := b.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	default:
		err = scan(ctx, c)
	}
	if err != nil {
		return nil, mapErr(ctx, err)
	}
	names := make([]string, 0, len(found))
	for ns := range found {
		names = append(names, ns)
	}
	slices.Sort(names)
	return names, nil
}

// namespaceOf returns the namespace of a key that starts with start,
// "<Prefix>:{", as newNSKeys names them: the escaped namespace runs to the first
// '}', which a ':' follows.
func namespaceOf(key, start string) (string, bool) {
	rest, ok := strings.CutPrefix(key, start)
	if !ok {
		return "", false
	}
	tag, _, ok := strings.Cut(rest, "}")
	if !ok || !strings.HasPrefix(rest[len(tag)+1:], ":") {
		return "", false
	}
	return unescapeTag.Replace(tag), true
}

// unescapeTag undoes escapeTag.
var unescapeTag = strings.NewReplacer("%25", "%", "%7B", "{", "%7D", "}")

// globEscape quotes the characters a SCAN MATCH pattern treats as special.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
