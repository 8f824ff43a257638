package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/keyq/keyq/internal/redistest"
)

const want = `enqueued math.add    pending
enqueued text.upper  pending
enqueued math.divide pending
enqueued net.fetch   pending
enqueued os.remove   pending
job math.add    finished attempts=1 answer=9
job text.upper  finished attempts=1 answer="KEYQ"
job math.divide failed   attempts=1 last_error="division by zero" answer={"error":"division by zero"}
job net.fetch   timeout  attempts=1 last_error="timeout" answer={"error":"timeout"}
job os.remove   dead     attempts=1 last_error="keyq: no handler for the task type \"os.remove\""
processed 2, failed 2, retried 0, dead 1, timeouts 1
`

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "" }},
		{"redis", func(t *testing.T) string { return redistest.URL(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits out a job timeout
			var out bytes.Buffer
			// The job timeout is what the quick handlers must finish within: long
			// enough for a loaded machine, since it is also how long net.fetch runs.
			if err := run(context.Background(), &out, config{redisURL: tc.url(t), timeout: time.Second}); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}
