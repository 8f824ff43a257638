package main

import (
	"context"
	"io"
	"testing"

	"github.com/keyq/keyq/internal/redistest"
)

// TestRedisLeavesNoKeys runs the example on a real server in its default, fresh
// namespace and checks that none of the namespace's keys is left afterwards; and
// that with keep they all are, so the check looks where the keys are.
func TestRedisLeavesNoKeys(t *testing.T) {
	url := redistest.URL(t)
	fresh := freshNamespace
	t.Cleanup(func() { freshNamespace = fresh })
	redistest.LeavesNoKeys(t, url, "example-answerstore-", func(keep bool) (ns string, err error) {
		freshNamespace = func() string { ns = fresh(); return ns }
		err = run(context.Background(), io.Discard, config{redisURL: url, keep: keep})
		return ns, err
	})
}
