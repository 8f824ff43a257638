package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyq/keyq/internal/redistest"
)

const want = `add_task registry-7 -> reestr
add_task call-1 -> queue
add_task call-2 -> queue
check_queue: call-1 from queue
return_to_queue call-1
check_queue: call-1 from queue, attempt 1
set_answer call-1
check_queue: call-2 from queue
set_answer call-2 (error)
check_queue: registry-7 from reestr
set_answer registry-7
add_task call-1 -> queue (again)
check_queue: <nil> (call-1 is answered already)
check_exists call-1: true
check_exists call-2: true
check_exists call-3: false
check_exists_with_update_ttl call-2: true
answer call-1: {"for":"call-1","status":"ok"} ok=true ttl=24h0m0s
answer call-2: {"error":"subscriber not found"} ok=false ttl=1h0m0s
answer registry-7: "registry done" ok=true ttl=24h0m0s
enqueued 4, delivered 4, acked 3, released 1, deduped 1
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
			var out bytes.Buffer
			if err := run(context.Background(), &out, config{redisURL: tc.url(t)}); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}
