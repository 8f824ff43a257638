package redisbackend_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/keyq/keyq/redisbackend"
)

// marker is a password no output may hold.
const marker = "S3cretPW"

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:S3cretPW@127.0.0.1:6379", "redis://:xxxxx@127.0.0.1:6379"},
		{"redis://alice:S3cretPW@127.0.0.1:6379/2", "redis://alice:xxxxx@127.0.0.1:6379/2"},
		{"rediss://:S3cretPW@h:6380?dial_timeout=1s", "rediss://:xxxxx@h:6380?dial_timeout=1s"},
		{"redis://S3cretPW@127.0.0.1", "redis://:xxxxx@127.0.0.1"}, // a lone user info may be a password
		// URLs that do not parse.
		{"redis://:S3cretPW@127.0.0.1:abc", "redis://:xxxxx@127.0.0.1:abc"},
		{"redis://:S3cr%zzetPW@h", "redis://:xxxxx@h"},
		{"redis://:S3cr/etPW@h:1/0", "redis://:xxxxx@h:1/0"},
		{"redis://:S3cr@et#PW@h", "redis://:xxxxx@h"},
		{"redis://:S3cr?etPW@h", "redis://:xxxxx@h"},
		{":S3cretPW@127.0.0.1:6379", ":xxxxx@127.0.0.1:6379"},
		{"redis+sentinel://:S3cretPW@a:26379,b/0?master=m&sentinel_password=S3cretPW",
			"redis+sentinel://:xxxxx@a:26379,b/0?master=m&sentinel_password=xxxxx"},
		{"redis://h?password=S3cretPW&db=1", "redis://h?password=xxxxx&db=1"},
		{"redis://h?Sentinel%5FPassword=S3cretPW", "redis://h?Sentinel%5FPassword=xxxxx"},
		{"not a url", "not a url"},
		{"", ""},
	} {
		got := redisbackend.RedactURL(c.in)
		if got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "S3cr") || strings.Contains(got, "etPW") {
			t.Errorf("RedactURL(%q) = %q holds a part of the password", c.in, got)
		}
	}
}

// TestRedactRandomPasswords: passwords made of the characters that break URLs
// never show in RedactURL's output, nor in OpenURL's errors.
func TestRedactRandomPasswords(t *testing.T) {
	const chars = "abcdefXYZ0189@/?#:%&=+ .[]"
	rng := rand.New(rand.NewPCG(1, 2))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a URL that parses fails at once, without a network call
	for range 3000 {
		pw := make([]byte, 8+rng.IntN(8))
		for i := range pw {
			pw[i] = chars[rng.IntN(len(chars))]
		}
		pw[0] = 'Q' // no two passwords look like the rest of the URL
		for _, url := range []string{
			"redis://:" + string(pw) + "@127.0.0.1:1/0",
			"redis://u:" + string(pw) + "@127.0.0.1:1/0?db=x",
			// A lone user info is hidden whole; with a ':' its first part is a
			// user name, which is shown.
			"rediss://" + strings.ReplaceAll(string(pw), ":", "") + "@127.0.0.1:1",
			"redis+sentinel://:" + string(pw) + "@127.0.0.1:1,h?master=m&sentinel_password=" + string(pw),
			"redis+cluster://:" + string(pw) + "@127.0.0.1:1,h:x",
		} {
			if r := redisbackend.RedactURL(url); strings.Contains(r, string(pw)) || strings.Contains(r, strings.ReplaceAll(string(pw), ":", "")) {
				t.Fatalf("RedactURL(%q) = %q", url, r)
			}
			_, err := redisbackend.OpenURL(ctx, url, redisbackend.Options{})
			if err == nil {
				t.Fatalf("OpenURL(%q) with a cancelled context succeeded", url)
			}
			if text := fmtAll(err); strings.Contains(text, string(pw)) || strings.Contains(text, strings.ReplaceAll(string(pw), ":", "")) {
				t.Fatalf("OpenURL(%q): %v", url, err)
			}
		}
	}
}
