package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/internal/redistest"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		url    func(t *testing.T) string
		shared bool
	}{
		{"memory", func(*testing.T) string { return "" }, false},
		{"memory shared", func(*testing.T) string { return "" }, true},
		{"redis", func(t *testing.T) string { return redistest.URL(t) }, false},
		{"redis shared", func(t *testing.T) string { return redistest.URL(t) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			const interval = 20 * time.Millisecond
			began := time.Now()
			if err := run(context.Background(), &out, config{redisURL: tc.url(t), interval: interval, refresh: 60 * time.Millisecond, shared: tc.shared}); err != nil {
				t.Fatal(err)
			}
			// Nine calls: eight intervals at least between the first and the last.
			if took := time.Since(began); took < 8*interval {
				t.Fatalf("took %v, want at least %v", took, 8*interval)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var calls []string
			refreshes := 0
			for _, l := range lines {
				if strings.HasPrefix(l, "val ") || l == "Exit!" {
					calls = append(calls, l)
				}
				if l == "Refresh" {
					refreshes++
				}
			}
			want := []string{"val read is called.", "val read is called.", "val read is called."}
			for _, s := range []string{"0", "1", "2", "3", "4"} {
				want = append(want, "val write "+s+" times writing! is called.")
			}
			want = append(want, "Exit!")
			if !slices.Equal(calls, want) {
				t.Fatalf("calls %q, want %q\noutput:\n%s", calls, want, out.String())
			}
			if lines[0] != "Worker stands by..." || lines[1] != "Refresh failed: token endpoint busy" || lines[2] != "Refresh" || refreshes < 2 {
				t.Fatalf("want a failed refresh, then a refresh before the first call and again later; output:\n%s", out.String())
			}
			if !regexp.MustCompile(`^8 items awaiting\.$`).MatchString(lines[3]) || lines[len(lines)-2] != "Done with gspread." {
				t.Fatalf("want the backlog before the first call and the final message; output:\n%s", out.String())
			}
		})
	}
}
