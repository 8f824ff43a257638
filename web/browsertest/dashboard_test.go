package browsertest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
	"github.com/keyq/keyq/web"
)

// hostile is a payload and a task type that would run script if the page did
// not escape them: either sets window.pwned.
const hostile = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">`

const token = "browser-test-token"

// store is a dashboard over one backend holding: two dead tasks (the first
// hostile), one leased, one waiting binary task.
type store struct {
	c      *keyq.Client
	url    string // the dashboard
	dead   []string
	leased string
}

func stores() map[string]func(t *testing.T) backend.Backend {
	return map[string]func(t *testing.T) backend.Backend{
		"memory": func(t *testing.T) backend.Backend { return memory.New() },
		"redis": func(t *testing.T) backend.Backend {
			b, err := redisbackend.OpenURL(context.Background(), redistest.URL(t), redisbackend.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
}

func newStore(t *testing.T, b backend.Backend) *store {
	t.Helper()
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()
	ns := fmt.Sprintf("browser-%d", time.Now().UnixNano())
	c, err := keyq.New(b, ns, keyq.Queues("jobs"))
	if err != nil {
		t.Fatal(err)
	}
	s := &store{c: c}
	for _, p := range []string{hostile, "plain"} {
		if _, err := c.Enqueue(ctx, "jobs", []byte(p), keyq.Type(hostile), keyq.MaxAttempts(1)); err != nil {
			t.Fatal(err)
		}
		l, err := c.Next(ctx, keyq.Wait(5*time.Second))
		if err != nil || l == nil {
			t.Fatalf("lease: %v, %v", l, err)
		}
		if err := c.Release(ctx, l); err != nil {
			t.Fatal(err)
		}
		s.dead = append(s.dead, l.ID)
	}
	if _, err := c.Enqueue(ctx, "jobs", []byte("held")); err != nil {
		t.Fatal(err)
	}
	l, err := c.Next(ctx, keyq.Wait(5*time.Second), keyq.LeaseFor(10*time.Minute))
	if err != nil || l == nil {
		t.Fatalf("lease: %v, %v", l, err)
	}
	s.leased = l.ID
	if _, err := c.Enqueue(ctx, "bin", []byte{0, 1, 2, '<', 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Backend: b, Namespace: ns, Store: "test store", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	s.url = ts.URL
	return s
}

func (s *store) stats(t *testing.T) keyq.Stats {
	t.Helper()
	st, err := s.c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDashboard opens the dashboard in Chromium on each store: the page loads
// without console errors, its counts match Stats, the hostile payload shows as
// text and runs nothing, and the requeue and purge buttons change the store.
func TestDashboard(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, open(t))
			b := newBrowser(t)
			// The first visit carries the token, which the server trades for a
			// cookie and a redirect.
			b.run("opening the dashboard", chromedp.Navigate(s.url+"/?token="+token), chromedp.WaitVisible(chromedp.CSS("#dead")))
			loc := eval[string](b, "location.href")
			if u, _ := url.Parse(loc); u == nil || u.Query().Has("token") {
				t.Errorf("after the first visit the address is %q, still holding the token", loc)
			}

			// Counts shown match Stats.
			shown := eval[map[string]map[string]int64](b, `Object.fromEntries([...document.querySelectorAll("tr[data-queue]")].map(r => [r.dataset.queue,
				Object.fromEntries([...r.querySelectorAll("td[data-field]")].map(td => [td.dataset.field, Number(td.textContent)]))]))`)
			st := s.stats(t)
			if len(shown) != len(st.Queues) {
				t.Errorf("the page shows queues %v, Stats has %v", shown, st.Queues)
			}
			for q, want := range st.Queues {
				got := shown[q]
				if got["waiting"] != want.Waiting || got["leased"] != want.Leased || got["delayed"] != want.Delayed || got["dead"] != want.Dead {
					t.Errorf("queue %s: the page shows %v, Stats %+v", q, got, want)
				}
			}
			enq := eval[int64](b, `Number(document.querySelector('[data-counter="enqueued"]').textContent)`)
			if enq != st.Counters.Enqueued {
				t.Errorf("the page shows %d enqueued, Stats %d", enq, st.Counters.Enqueued)
			}

			// The hostile payload and type render as text and run nothing.
			checkInert(t, b)
			if got := b.text(fmt.Sprintf(`tr[data-id=%q] td.payload`, s.dead[0])); got != hostile[:60]+"…" {
				t.Errorf("the hostile payload's cell reads %q", got)
			}
			b.screenshot(name + "-dashboard")

			// The task page shows the payload in full, as text.
			b.run("opening the hostile task", chromedp.Navigate(s.url+"/task?ns="+url.QueryEscape(s.c.Namespace())+"&id="+url.QueryEscape(s.dead[0])),
				chromedp.WaitVisible(chromedp.CSS("#payload")))
			if got := b.text("#payload"); got != hostile {
				t.Errorf("the task page's payload reads %q, want %q", got, hostile)
			}
			if got := b.text(`#job [data-field="status"]`); got != "dead" {
				t.Errorf("the task page's job status reads %q, want dead", got)
			}
			checkInert(t, b)
			b.screenshot(name + "-task")

			// Requeue the plain dead task, then purge the hostile one.
			b.run("requeue", chromedp.Navigate(s.url+"/?ns="+url.QueryEscape(s.c.Namespace())), chromedp.WaitVisible(chromedp.CSS("#dead")),
				chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] button.requeue`, s.dead[1]))), chromedp.WaitVisible(chromedp.CSS("#done")))
			if got := b.text("#done"); got != "requeued 1 dead task" {
				t.Errorf("after requeue the page says %q", got)
			}
			if st := s.stats(t); st.Queues["jobs"].Dead != 1 || st.Queues["jobs"].Waiting != 1 {
				t.Errorf("after requeue jobs holds %+v, want 1 dead and 1 waiting", st.Queues["jobs"])
			}
			// A fresh page, without the #done of the requeue.
			b.run("purge", chromedp.Navigate(s.url+"/?ns="+url.QueryEscape(s.c.Namespace())), chromedp.WaitVisible(chromedp.CSS("#dead")),
				chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] button.purge`, s.dead[0]))),
				chromedp.WaitVisible(chromedp.CSS("#done")))
			if got := b.text("#done"); got != "purged 1 dead task" {
				t.Errorf("after purge the page says %q", got)
			}
			if st := s.stats(t); st.Queues["jobs"].Dead != 0 {
				t.Errorf("after purge jobs holds %+v, want no dead", st.Queues["jobs"])
			}
			b.screenshot(name + "-after")
			b.checkConsole()
		})
	}
}

// checkInert checks that the page holds no element the hostile text would have
// made and that no injected script ran.
func checkInert(t *testing.T, b *browser) {
	t.Helper()
	r := eval[struct {
		Pwned   bool `json:"pwned"`
		Scripts int  `json:"scripts"`
		Imgs    int  `json:"imgs"`
	}](b, `({pwned: window.pwned !== undefined, scripts: document.scripts.length, imgs: document.querySelectorAll("img").length})`)
	if r.Pwned || r.Scripts != 1 || r.Imgs != 0 {
		t.Errorf("the hostile text was not inert: window.pwned set %v, %d scripts (want 1), %d img elements (want 0)", r.Pwned, r.Scripts, r.Imgs)
	}
}

// TestRefused: a browser without the token gets 401 and no data, and a POST
// from the page without the CSRF token is refused and changes nothing.
func TestRefused(t *testing.T) {
	s := newStore(t, memory.New())
	b := newBrowser(t)
	b.run("opening without the token", chromedp.Navigate(s.url+"/"))
	body := b.text("body")
	if want := "401 unauthorized"; len(body) < len(want) || body[:len(want)] != want {
		t.Errorf("without the token the page reads %q, want %q", body, want)
	}
	b.screenshot("no-token")
	b.run("opening with the token", chromedp.Navigate(s.url+"/?token="+token), chromedp.WaitVisible(chromedp.CSS("#dead")))
	codes := eval[[]int](b, `Promise.all([
		fetch("/dead/purge", {method: "POST", body: new URLSearchParams({ns: `+jsString(s.c.Namespace())+`, all: "1"})}).then(r => r.status),
		fetch("/dead/purge", {method: "POST", body: new URLSearchParams({ns: `+jsString(s.c.Namespace())+`, all: "1", csrf: "0"})}).then(r => r.status),
		fetch("/dead/purge?all=1").then(r => r.status),
	])`)
	if fmt.Sprint(codes) != "[403 403 405]" {
		t.Errorf("POST without CSRF, with a wrong one, GET: statuses %v, want [403 403 405]", codes)
	}
	if st := s.stats(t); st.Queues["jobs"].Dead != 2 {
		t.Errorf("after refused requests jobs holds %+v, want 2 dead", st.Queues["jobs"])
	}
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// TestDemoScreenshot runs the demo workload and takes a screenshot of the
// dashboard over it; with KEYQ_SCREENSHOT set it waits longer, for the charts
// to fill, and writes the picture there too (docs/dashboard.png is made this way:
// KEYQ_SCREENSHOT=$PWD/../../docs/dashboard.png go test -run TestDemoScreenshot).
func TestDemoScreenshot(t *testing.T) {
	be := memory.New()
	t.Cleanup(func() { be.Close() })
	c, err := keyq.New(be, "shop")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- web.Demo(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	srv, err := web.New(web.Config{Backend: be, Namespace: "shop", Store: "memory (demo)", Sample: time.Second, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b := newBrowser(t)
	// Let samples and dead letters gather: 20s for the picture of the docs, 3s
	// otherwise. No event marks when there are "enough", so this waits a set
	// time; nothing the test checks depends on it.
	run := 3 * time.Second
	if os.Getenv("KEYQ_SCREENSHOT") != "" {
		run = 20 * time.Second
	}
	time.Sleep(run)
	b.run("opening the demo", chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#dead")))
	checkInert(t, b)
	path := b.screenshot("demo")
	if out := os.Getenv("KEYQ_SCREENSHOT"); out != "" {
		png, err := os.ReadFile(path)
		if err == nil {
			err = os.WriteFile(out, png, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
	b.checkConsole()
}

// TestPauseResume clicks a queue's pause button, then its resume button, on each
// store: the row's state follows, and so does the store. The queue's name holds
// '/', a space and '<', which the page must carry intact through the form.
func TestPauseResume(t *testing.T) {
	const queue = "mail/out going<b>"
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, open(t))
			if _, err := s.c.Enqueue(context.Background(), queue, []byte("x")); err != nil {
				t.Fatal(err)
			}
			b := newBrowser(t)
			row := fmt.Sprintf(`tr[data-queue=%q]`, queue)
			b.run("opening the dashboard", chromedp.Navigate(s.url+"/?token="+token), chromedp.WaitVisible(chromedp.CSS(row+` td[data-state="active"]`)))
			b.run("pause", chromedp.Click(chromedp.CSS(row+" button.pause")), chromedp.WaitVisible(chromedp.CSS(row+` td[data-state="paused"]`)))
			if got := b.text("#done"); got != "paused queue "+queue {
				t.Errorf("after pause the page says %q", got)
			}
			if got := b.text(row + " td.state"); got != "paused" {
				t.Errorf("after pause the queue's state reads %q", got)
			}
			if st := s.stats(t); !st.Queues[queue].Paused || st.Queues["jobs"].Paused {
				t.Errorf("after pause the store holds %+v, want %q paused alone", st.Queues, queue)
			}
			b.screenshot(name + "-paused")
			b.run("resume", chromedp.Click(chromedp.CSS(row+" button.resume")), chromedp.WaitVisible(chromedp.CSS(row+` td[data-state="active"]`)))
			if got := b.text("#done"); got != "resumed queue "+queue {
				t.Errorf("after resume the page says %q", got)
			}
			if st := s.stats(t); st.Queues[queue].Paused {
				t.Errorf("after resume the store holds %+v, want %q running", st.Queues[queue], queue)
			}
			checkInert(t, b)
			b.checkConsole()
		})
	}
}
