package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
)

// TestWebUsage: keyq web refuses, before opening the store, an address beyond
// loopback without a token and --demo with --redis.
func TestWebUsage(t *testing.T) {
	t.Setenv(webTokenEnv, "")
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"web", "--addr", ":8080"}, "reaches beyond this machine: set a token"},
		{[]string{"web", "--addr", "0.0.0.0:1"}, "reaches beyond this machine: set a token"},
		{[]string{"web", "--addr", "nohost"}, "missing port"},
		{[]string{"web", "--demo", "--redis", "redis://x:1"}, "takes no --redis"},
		{[]string{"web", "extra"}, "unexpected arguments"},
		{[]string{"web", "--namespace", ""}, "--namespace must not be empty"},
	} {
		code, out, errOut := runCmd(t, never(t), "", c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.err) {
			t.Errorf("keyq %q: exit %d, stdout %q, stderr %.300q; want exit 2 and %q", c.args, code, out, errOut, c.err)
		}
	}
}

// startWeb runs keyq web with args (plus --addr 127.0.0.1:0 --json) and
// returns the URL it serves on, and a func that ends it and fails t unless it
// ends cleanly.
func startWeb(t *testing.T, open Opener, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	var errOut strings.Builder
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append(args, "--addr", "127.0.0.1:0", "--json"),
			&Env{Stdin: strings.NewReader(""), Stdout: pw, Stderr: &errOut, Open: open})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		// The pipe closes after run returned: errOut is no longer written.
		t.Fatalf("keyq web printed no address: %v (stderr %q)", err, errOut.String())
	}
	go io.Copy(io.Discard, pr)
	var j struct{ URL, Store string }
	if err := json.Unmarshal([]byte(line), &j); err != nil || !strings.HasPrefix(j.URL, "http://127.0.0.1:") {
		t.Fatalf("keyq web --json printed %q: %v", line, err)
	}
	return j.URL, func() {
		t.Helper()
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Errorf("keyq web ended with exit %d, stderr %q", c, errOut.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("keyq web did not end within 20s of its context's end")
		}
	}
}

func httpGet(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWebServes: keyq web serves the store's dashboard on the address it
// prints, requires its token, and ends cleanly when its context ends.
func TestWebServes(t *testing.T) {
	h := mem(t)
	if _, err := h.q.Enqueue(context.Background(), "q", []byte("<b>x</b>"), keyq.Key("k")); err != nil {
		t.Fatal(err)
	}
	url, stop := startWeb(t, h.open, "web", "--redis", h.url, "--namespace", h.ns, "--token", "tok")
	if c, _ := httpGet(t, url, ""); c != http.StatusUnauthorized {
		t.Errorf("GET without the token: %d, want 401", c)
	}
	c, body := httpGet(t, url, "Bearer tok")
	if c != 200 || !strings.Contains(body, `data-field="waiting">1<`) || !strings.Contains(body, h.ns) {
		t.Errorf("GET with the token: %d, want 200 and the queue q with 1 waiting:\n%s", c, body)
	}
	stop()
}

// TestWebDemo: keyq web --demo serves a memory store with the demo workload
// running, and stops it when it ends.
func TestWebDemo(t *testing.T) {
	url, stop := startWeb(t, never(t), "web", "--demo")
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, body := httpGet(t, url, "")
		if c == 200 && strings.Contains(body, "memory (demo)") && strings.Contains(body, `<tr data-queue="emails">`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyq web --demo shows no queue emails after 30s: %d\n%s", c, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
}

// TestWebHidesPassword: the page names the store by its URL with the password
// hidden, as redisbackend.RedactURL prints it.
func TestWebHidesPassword(t *testing.T) {
	h := mem(t) // its opener ignores the URL
	url, stop := startWeb(t, h.open, "web", "--redis", "redis://:"+marker+"@127.0.0.1:1/0", "--namespace", h.ns)
	c, body := httpGet(t, url, "")
	if c != 200 || strings.Contains(body, marker) || !strings.Contains(body, "redis://:xxxxx@127.0.0.1:1/0") {
		t.Errorf("GET: %d; want 200, the URL shown as redis://:xxxxx@127.0.0.1:1/0 and never the password:\n%s", c, body)
	}
	stop()
}
