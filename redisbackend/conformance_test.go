package redisbackend

import (
	"testing"

	"github.com/keyq/keyq/conformance"
)

// TestConformanceMiniredis runs the shared suite on a fresh embedded miniredis per
// test, with the server's clock moved by hand.
func TestConformanceMiniredis(t *testing.T) {
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		return newMini(t).Target
	}))
}

// TestConformanceRedis runs the shared suite on one real redis-server (started for
// this test, or the one in KEYQ_REDIS_URL), with a fresh key prefix per test and
// real time. The scripts run as Redis 7 functions, as they do by default on a
// server that takes them (functions.go).
func TestConformanceRedis(t *testing.T) {
	client := realClient(t)
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		return newReal(t, client)
	}))
}

// TestConformanceRedisEval runs the suite on the real server again with every
// script sent by EVALSHA, as on Redis 6.2 and KeyDB, which have no functions.
func TestConformanceRedisEval(t *testing.T) {
	client := realClient(t)
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		return newRealWith(t, client, Options{NoFunctions: true})
	}))
}
