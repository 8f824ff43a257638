package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/web"
)

// hostile is a payload, key and type that would run script if a page did not
// escape it.
const hostile = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">`

// fixture is a dashboard over a memory backend with namespace "ns": two dead
// tasks (one hostile), one lease, one waiting binary task.
type fixture struct {
	t      *testing.T
	srv    *web.Server
	ts     *httptest.Server
	c      *keyq.Client
	dead   []string // the IDs of the dead tasks, hostile first
	leased string
	binary string
}

func newFixture(t *testing.T, cfg web.Config) *fixture {
	t.Helper()
	b := memory.New()
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()
	c, err := keyq.New(b, "ns", keyq.Queues("jobs"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, c: c}
	for _, p := range []string{hostile, "plain"} {
		if _, err := c.Enqueue(ctx, "jobs", []byte(p), keyq.Type(hostile), keyq.MaxAttempts(1)); err != nil {
			t.Fatal(err)
		}
		l, err := c.Next(ctx, keyq.Wait(time.Second))
		if err != nil || l == nil {
			t.Fatalf("lease: %v, %v", l, err)
		}
		if err := c.Release(ctx, l); err != nil {
			t.Fatal(err)
		}
		f.dead = append(f.dead, l.ID)
	}
	if _, err := c.Enqueue(ctx, "jobs", []byte("held")); err != nil {
		t.Fatal(err)
	}
	l, err := c.Next(ctx, keyq.Wait(time.Second))
	if err != nil || l == nil {
		t.Fatalf("lease: %v, %v", l, err)
	}
	f.leased = l.ID
	if f.binary, err = c.Enqueue(ctx, "bin", []byte{0, 1, 2, '<', 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	cfg.Backend, cfg.Namespace = b, "ns"
	f.srv, err = web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.srv.Close)
	f.ts = httptest.NewServer(f.srv)
	t.Cleanup(f.ts.Close)
	if st, err := c.Stats(ctx); err != nil || st.Queues["jobs"].Dead != 2 {
		t.Fatalf("fixture: stats %+v, %v; want 2 dead in jobs", st, err)
	}
	return f
}

// get returns the status and body of a GET of path.
func (f *fixture) get(path string, header ...string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest("GET", f.ts.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return f.do(req)
}

func (f *fixture) post(path string, form url.Values, header ...string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest("POST", f.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return f.do(req)
}

func (f *fixture) do(req *http.Request) (int, string) {
	f.t.Helper()
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func (f *fixture) deadCount() int64 {
	f.t.Helper()
	st, err := f.c.Stats(context.Background(), "jobs")
	if err != nil {
		f.t.Fatal(err)
	}
	return st.Queues["jobs"].Dead
}

// TestIndexShowsStore: the page shows the namespace's queues with their counts,
// the lease and the dead letters, and escapes every value: the hostile payload
// and type appear only as text.
func TestIndexShowsStore(t *testing.T) {
	f := newFixture(t, web.Config{Store: "redis://:xxxxx@db:6379"})
	code, body := f.get("/")
	if code != 200 {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	for _, want := range []string{
		`<tr data-queue="jobs">`, `data-field="waiting">0<`, `data-field="leased">1<`, `data-field="dead">2<`,
		`<tr data-queue="bin">`, `data-counter="enqueued">4<`,
		`id=` + f.leased + `"`, `data-id="` + f.dead[0] + `"`, `data-id="` + f.dead[1] + `"`,
		"redis://:xxxxx@db:6379",
		"&lt;script&gt;window.pwned=1&lt;/script&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %q", want)
		}
	}
	checkEscaped(t, body)
}

func checkEscaped(t *testing.T, body string) {
	t.Helper()
	for _, bad := range []string{"<script>window", "<img src=x", `onerror="window`} {
		if strings.Contains(body, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
}

// TestTaskPage: a task's page shows its job record and its payload, hostile
// text escaped and binary as a hex dump.
func TestTaskPage(t *testing.T) {
	f := newFixture(t, web.Config{})
	code, body := f.get("/task?ns=ns&id=" + url.QueryEscape(f.dead[0]))
	if code != 200 {
		t.Fatalf("GET /task: %d\n%s", code, body)
	}
	for _, want := range []string{`data-field="status">dead<`, "found</th><td>dead<", "&lt;script&gt;window.pwned=1&lt;/script&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("task page of the hostile task lacks %q", want)
		}
	}
	checkEscaped(t, body)
	_, body = f.get("/task?ns=ns&id=" + url.QueryEscape(f.binary))
	for _, want := range []string{"binary, shown as hex", "00000000  00 01 02 3c ff fe", "|...&lt;..|", "waiting in bin"} {
		if !strings.Contains(body, want) {
			t.Errorf("task page of the binary task lacks %q:\n%s", want, body)
		}
	}
	_, body = f.get("/task?ns=ns&id=" + url.QueryEscape(f.leased))
	if !strings.Contains(body, "lease deadline") {
		t.Errorf("task page of the leased task lacks its deadline")
	}
	if code, _ := f.get("/task?ns=ns&id=nope"); code != 200 {
		t.Errorf("GET /task of an unknown id: %d, want 200 saying not found", code)
	}
	if code, _ := f.get("/task?ns=ns"); code != 400 {
		t.Errorf("GET /task without id: %d, want 400", code)
	}
}

// TestRequeuePurge: requeue and purge with the CSRF token change the store.
func TestRequeuePurge(t *testing.T) {
	f := newFixture(t, web.Config{})
	code, body := f.post("/dead/requeue", url.Values{"csrf": {f.srv.CSRFToken()}, "ns": {"ns"}, "id": {f.dead[0]}}, "Origin", f.ts.URL, "Sec-Fetch-Site", "same-origin")
	if code != http.StatusSeeOther {
		t.Fatalf("requeue: %d\n%s", code, body)
	}
	if n := f.deadCount(); n != 1 {
		t.Errorf("after requeue of one: %d dead, want 1", n)
	}
	if l, err := f.c.Next(context.Background(), keyq.Wait(time.Second)); err != nil || l == nil || l.ID != f.dead[0] {
		t.Errorf("after requeue the next lease is %v, %v; want task %s", l, err, f.dead[0])
	}
	code, body = f.post("/dead/purge", url.Values{"ns": {"ns"}, "all": {"1"}}, "X-CSRF-Token", f.srv.CSRFToken())
	if code != http.StatusSeeOther {
		t.Fatalf("purge: %d\n%s", code, body)
	}
	if n := f.deadCount(); n != 0 {
		t.Errorf("after purge of all: %d dead, want 0", n)
	}
	code, body = f.get("/?ns=ns&done=purged+1+dead+task")
	if code != 200 || !strings.Contains(body, "No dead letters.") {
		t.Errorf("GET / after purge: %d, no 'No dead letters.'", code)
	}
}

// TestCSRFRefused: a POST without the token, with a wrong one, or from another
// origin changes nothing, and so does a GET of an action.
func TestCSRFRefused(t *testing.T) {
	f := newFixture(t, web.Config{})
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "ns": {"ns"}, "all": {"1"}, "queue": {"jobs"}, "id": {f.leased}}
	}
	for _, c := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", form(""), nil},
		{"wrong token", form(strings.Repeat("0", 64)), nil},
		{"other origin", form(f.srv.CSRFToken()), []string{"Origin", "http://evil.example"}},
		{"cross-site fetch", form(f.srv.CSRFToken()), []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		for _, action := range actions {
			if code, _ := f.post(action, c.form, c.header...); code != http.StatusForbidden {
				t.Errorf("%s: POST %s: %d, want 403", c.name, action, code)
			}
		}
	}
	for _, action := range actions {
		if code, _ := f.get(action + "?" + form(f.srv.CSRFToken()).Encode()); code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", action, code)
		}
	}
	f.unchanged()
}

// actions are the POSTs that change the store.
var actions = []string{"/dead/purge", "/dead/requeue", "/queue/pause", "/task/cancel"}

// unchanged checks that the fixture's store is as built: two dead tasks, the
// lease live, no queue paused, nothing cancelled.
func (f *fixture) unchanged() {
	f.t.Helper()
	st, err := f.c.Stats(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if q := st.Queues["jobs"]; q.Dead != 2 || q.Leased != 1 || q.Paused || st.Counters.Cancelled != 0 {
		f.t.Errorf("after refused requests: jobs %+v, %d cancelled; want 2 dead, 1 leased, not paused, none cancelled", q, st.Counters.Cancelled)
	}
}

// TestReadOnly: a read-only dashboard shows no buttons and refuses every POST,
// even with the CSRF token.
func TestReadOnly(t *testing.T) {
	f := newFixture(t, web.Config{ReadOnly: true})
	_, body := f.get("/")
	if strings.Contains(body, "<button") || strings.Contains(body, `name="csrf"`) {
		t.Errorf("read-only page shows a button or a form")
	}
	if !strings.Contains(body, `id="readonly"`) {
		t.Errorf("read-only page does not say so")
	}
	_, body = f.get("/task?ns=ns&id=" + url.QueryEscape(f.leased))
	if strings.Contains(body, "<button") || strings.Contains(body, `name="csrf"`) {
		t.Errorf("read-only task page shows a button or a form")
	}
	for _, action := range append(actions, "/queue/resume") {
		code, _ := f.post(action, url.Values{"csrf": {f.srv.CSRFToken()}, "ns": {"ns"}, "all": {"1"}, "queue": {"jobs"}, "id": {f.leased}})
		if code != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d, want 403", action, code)
		}
	}
	f.unchanged()
}

// TestToken: with a token every request without it is refused; the bearer
// header and the cookie set by ?token= pass.
func TestToken(t *testing.T) {
	const token = "s3cret-token"
	f := newFixture(t, web.Config{Token: token})
	for _, path := range []string{"/", "/task?ns=ns&id=1", "/assets/app.js", "/?token=wrong"} {
		if code, body := f.get(path); code != http.StatusUnauthorized || strings.Contains(body, "pwned") {
			t.Errorf("GET %s without the token: %d, want 401", path, code)
		}
	}
	if code, _ := f.get("/", "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
		t.Errorf("GET / with a wrong bearer: %d, want 401", code)
	}
	if code, _ := f.post("/dead/purge", url.Values{"csrf": {f.srv.CSRFToken()}, "ns": {"ns"}, "all": {"1"}}); code != http.StatusUnauthorized {
		t.Errorf("POST without the token: %d, want 401", code)
	}
	if n := f.deadCount(); n != 2 {
		t.Errorf("after refused requests: %d dead, want 2", n)
	}
	if code, _ := f.get("/", "Authorization", "Bearer "+token); code != 200 {
		t.Errorf("GET / with the bearer token: %d, want 200", code)
	}
	req, _ := http.NewRequest("GET", f.ts.URL+"/?ns=ns&token="+token, nil)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(resp.Header.Get("Location"), token) {
		t.Fatalf("GET /?token=: %d to %q, want 303 to the page without the token", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "keyq_token" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("GET /?token= set cookie %+v, want keyq_token HttpOnly SameSite=Strict", cookie)
	}
	if code, _ := f.get("/", "Cookie", cookie.Name+"="+cookie.Value); code != 200 {
		t.Errorf("GET / with the cookie: %d, want 200", code)
	}
}

// TestHeaders: every answer forbids inline script and framing.
func TestHeaders(t *testing.T) {
	f := newFixture(t, web.Config{})
	resp, err := http.Get(f.ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, a := range []string{"/assets/app.js", "/assets/style.css"} {
		if code, _ := f.get(a); code != 200 {
			t.Errorf("GET %s: %d", a, code)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8080", "", true},
		{"localhost:8080", "", true},
		{"[::1]:0", "", true},
		{":8080", "", false},
		{"0.0.0.0:8080", "", false},
		{"192.168.1.4:80", "", false},
		{"0.0.0.0:8080", "t", true},
		{"nohost", "t", false},
	} {
		err := web.CheckAddr(c.addr, c.token)
		if (err == nil) != c.ok {
			t.Errorf("CheckAddr(%q, %q) = %v, want ok %v", c.addr, c.token, err, c.ok)
		}
	}
}

// TestRateChart: the sampler reads the counters every interval and the page
// charts their rates.
func TestRateChart(t *testing.T) {
	f := newFixture(t, web.Config{Sample: 10 * time.Millisecond, Window: time.Second})
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if _, err := f.c.Enqueue(context.Background(), "jobs", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		_, body := f.get("/")
		if strings.Contains(body, `<polyline class="enq" points="0.0,`) && !strings.Contains(body, "enqueued/s –") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rate chart after 30s of samples every 10ms:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRebinding: without a token, a request naming another host (a name an
// attacker rebound to 127.0.0.1) is refused; with a token the token decides.
func TestRebinding(t *testing.T) {
	f := newFixture(t, web.Config{})
	req, err := http.NewRequest("GET", f.ts.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example:8080"
	if code, _ := f.do(req); code != http.StatusForbidden {
		t.Errorf("GET / with Host evil.example: %d, want 403", code)
	}
	for _, host := range []string{"localhost:1", "127.0.0.1:1", "[::1]:1", "localhost"} {
		req.Host = host
		if code, _ := f.do(req); code != 200 {
			t.Errorf("GET / with Host %s: %d, want 200", host, code)
		}
	}
	f = newFixture(t, web.Config{Token: "tok"})
	req, _ = http.NewRequest("GET", f.ts.URL+"/", nil)
	req.Host = "dash.example:8080"
	req.Header.Set("Authorization", "Bearer tok")
	if code, _ := f.do(req); code != 200 {
		t.Errorf("GET / with Host dash.example and the token: %d, want 200", code)
	}
}
