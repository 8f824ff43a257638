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

// TestWebServes: keyq web serves the store's dashboard on the address it
// prints, requires its token, and ends cleanly when its context ends.
func TestWebServes(t *testing.T) {
	h := mem(t)
	if _, err := h.q.Enqueue(context.Background(), "q", []byte("<b>x</b>"), keyq.Key("k")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errOut strings.Builder
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"web", "--redis", h.url, "--namespace", h.ns, "--addr", "127.0.0.1:0", "--json", "--token", "tok"},
			&Env{Stdin: strings.NewReader(""), Stdout: pw, Stderr: &errOut, Open: h.open})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("keyq web printed no address: %v (stderr %q)", err, errOut.String())
	}
	go io.Copy(io.Discard, pr)
	var j struct{ URL, Store string }
	if err := json.Unmarshal([]byte(line), &j); err != nil || !strings.HasPrefix(j.URL, "http://127.0.0.1:") {
		t.Fatalf("keyq web --json printed %q: %v", line, err)
	}
	get := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", j.URL, nil)
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
	if c, _ := get(""); c != http.StatusUnauthorized {
		t.Errorf("GET without the token: %d, want 401", c)
	}
	c, body := get("Bearer tok")
	if c != 200 || !strings.Contains(body, `data-field="waiting">1<`) || !strings.Contains(body, h.ns) {
		t.Errorf("GET with the token: %d, want 200 and the queue q with 1 waiting:\n%s", c, body)
	}
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
