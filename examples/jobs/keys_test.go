package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/redisbackend"
)

// TestRedisLeavesNoKeys runs the example on a real server in its default, fresh
// namespace and checks that none of the namespace's keys is left afterwards; and
// that with keep they all are, so the check looks where the keys are.
func TestRedisLeavesNoKeys(t *testing.T) {
	url := redistest.URL(t)
	fresh := freshNamespace
	t.Cleanup(func() { freshNamespace = fresh })
	for _, keep := range []bool{false, true} {
		var ns string
		freshNamespace = func() string { ns = fresh(); return ns }
		if err := run(context.Background(), io.Discard, config{redisURL: url, timeout: 50 * time.Millisecond, keep: keep}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ns, "example-jobs-") {
			t.Errorf("fresh namespace %q, want example-jobs-<random>", ns)
		}
		left := redistest.Keys(t, url, "keyq:{"+ns+"}:")
		switch {
		case !keep && len(left) > 0:
			t.Errorf("%d keys of namespace %q left behind, such as %q", len(left), ns, left[0])
		case keep && len(left) == 0:
			t.Errorf("keep: no keys of namespace %q on the server", ns)
		case keep:
			b, err := redisbackend.OpenURL(context.Background(), url, redisbackend.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.DropNamespace(context.Background(), ns); err != nil {
				t.Error(err)
			}
			b.Close()
		}
	}
}
