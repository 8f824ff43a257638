package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Has reports whether the server behind c knows the command name, by COMMAND
// INFO. Tests of what only some supported servers have ask it first: FUNCTION,
// FCALL_RO and EVAL_RO are Redis 7's, which Redis 6.2 and KeyDB lack.
func Has(t testing.TB, c redis.UniversalClient, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Do(ctx, "COMMAND", "INFO", name).Slice()
	if err != nil {
		t.Fatalf("redistest: COMMAND INFO %s: %v", name, err)
	}
	return len(r) == 1 && r[0] != nil
}

// HasFunctions reports whether the server behind c runs functions (FUNCTION
// LOAD, FCALL: Redis 7 and later), and logs it when not.
func HasFunctions(t testing.TB, c redis.UniversalClient) bool {
	t.Helper()
	if Has(t, c, "function") {
		return true
	}
	t.Log("redistest: this server has no FUNCTION (Redis 6.2, KeyDB): scripts run by EVALSHA")
	return false
}
