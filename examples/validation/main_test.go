package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/keyq/keyq/internal/redistest"
)

func TestRun(t *testing.T) {
	const want = "2000 tasks, 4000 deliveries, 2000 put back, 0 left in the queue\nsuccess\n"
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "" }},
		{"redis", func(t *testing.T) string { return redistest.URL(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang only
			defer cancel()
			if err := run(ctx, &out, config{redisURL: tc.url(t), n: 2000, concurrency: 8, batch: 10}); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Fatalf("output %q, want %q", out.String(), want)
			}
		})
	}
}
