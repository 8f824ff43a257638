package redisbackend

import "github.com/redis/go-redis/v9"

// ContextTimeoutEnabled reports whether client ends each call by its context's
// deadline, as S7.1 needs (see New): the ContextTimeoutEnabled option of a
// *redis.Client (single server, or failover from NewFailoverClient), a
// *redis.ClusterClient (cluster, or NewFailoverClusterClient) or a *redis.Ring.
// known is false for any other type, which does not expose its options.
func ContextTimeoutEnabled(client redis.UniversalClient) (enabled, known bool) {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled, true
	}
	return false, false
}
