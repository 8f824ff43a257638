package redistest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Keys returns the keys, sorted, of the server at url (a redis:// URL) that start
// with prefix, taken literally. It fails t if the server cannot be asked.
func Keys(t testing.TB, url, prefix string) []string {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	var keys []string
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		if strings.HasPrefix(iter.Val(), prefix) {
			keys = append(keys, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("redistest: SCAN: %v", err)
	}
	slices.Sort(keys)
	return keys
}

// LeavesNoKeys checks that a program run on the server at url in a namespace of
// its own deletes every key of that namespace when it is done, and keeps them when
// asked to, which shows that the check looks where the keys are. run runs the
// program once, keeping its keys or not, and returns the namespace it used, which
// must start with prefix. The keys a kept run left are deleted afterwards.
func LeavesNoKeys(t *testing.T, url, prefix string, run func(keep bool) (ns string, err error)) {
	t.Helper()
	for _, keep := range []bool{false, true} {
		ns, err := run(keep)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ns, prefix) {
			t.Errorf("namespace %q, want %s<random>", ns, prefix)
		}
		left := Keys(t, url, "keyq:{"+ns+"}:")
		switch {
		case !keep && len(left) > 0:
			t.Errorf("%d keys of namespace %q left behind, such as %q", len(left), ns, left[0])
		case keep && len(left) == 0:
			t.Errorf("keep: no keys of namespace %q on the server", ns)
		}
		if len(left) > 0 {
			unlink(t, url, left)
		}
	}
}

// unlink deletes keys from the server at url.
func unlink(t testing.TB, url string, keys []string) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	for chunk := range slices.Chunk(keys, 500) {
		if err := c.Unlink(context.Background(), chunk...).Err(); err != nil {
			t.Errorf("redistest: UNLINK: %v", err)
		}
	}
}
