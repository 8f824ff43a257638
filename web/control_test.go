package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/web"
)

// postOK posts form to path with the CSRF token and returns where the answer, a
// 303, redirects.
func (f *fixture) postOK(path string, form url.Values) string {
	f.t.Helper()
	form.Set("csrf", f.srv.CSRFToken())
	form.Set("ns", "ns")
	req, err := http.NewRequest("POST", f.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("POST %s %v: %d, want 303", path, form, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

func (f *fixture) stats() keyq.Stats {
	f.t.Helper()
	st, err := f.c.Stats(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// queueRow returns the table row of queue q on the page body, as the template
// writes its data-queue attribute.
func queueRow(t *testing.T, body, q string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr data-queue="` + regexp.QuoteMeta(html.EscapeString(q)) + `"[^>]*>.*?</tr>`).FindString(body)
	if m == "" {
		t.Fatalf("the page has no row for queue %q", q)
	}
	return m
}

// TestPauseResume: each queue's row shows its state and a pause or resume
// button; the buttons' POSTs pause and resume it in the store, whatever its name
// holds ('/', spaces, '<', ".."), and the page says so, escaped.
func TestPauseResume(t *testing.T) {
	f := newFixture(t, web.Config{})
	ctx := context.Background()
	weird := `a/b c<img src=x onerror="window.pwned=2">`
	for _, q := range []string{weird, ".."} {
		if _, err := f.c.Enqueue(ctx, q, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	_, body := f.get("/?ns=ns")
	checkEscaped(t, body)
	row := queueRow(t, body, weird)
	for _, want := range []string{`data-state="active">active<`, `action="/queue/pause"`, `name="queue" value="` + html.EscapeString(weird) + `"`, `class="pause"`} {
		if !strings.Contains(row, want) {
			t.Errorf("the row of %q lacks %q:\n%s", weird, want, row)
		}
	}
	if !strings.Contains(body, `data-counter="cancelled">0<`) {
		t.Errorf("the page lacks the cancelled counter")
	}

	for _, q := range []string{weird, ".."} {
		loc := f.postOK("/queue/pause", url.Values{"queue": {q}})
		if st := f.stats(); !st.Queues[q].Paused || st.Queues["jobs"].Paused {
			t.Fatalf("after pausing %q: %+v; want it paused alone", q, st.Queues)
		}
		u, err := url.Parse(loc)
		if err != nil || u.Path != "/" || u.Query().Get("done") != "paused queue "+q || u.Query().Get("ns") != "ns" {
			t.Errorf("pause redirects to %q, want / saying it paused %q", loc, q)
		}
		_, body = f.get(loc)
		checkEscaped(t, body)
		row = queueRow(t, body, q)
		for _, want := range []string{`class="paused"`, `data-state="paused">paused<`, `action="/queue/resume"`, `class="resume"`} {
			if !strings.Contains(row, want) {
				t.Errorf("after pause the row of %q lacks %q:\n%s", q, want, row)
			}
		}
		if !strings.Contains(body, html.EscapeString("paused queue "+q)) {
			t.Errorf("after pause the page does not say it paused %q", q)
		}
	}
	if n, err := f.c.Dequeue(ctx, keyq.Queues(weird, ".."), keyq.Batch(10)); err != nil || len(n) != 0 {
		t.Errorf("Dequeue of the paused queues: %d tasks, %v; want none", len(n), err)
	}

	f.postOK("/queue/resume", url.Values{"queue": {weird}})
	if st := f.stats(); st.Queues[weird].Paused || !st.Queues[".."].Paused {
		t.Errorf("after resuming %q: %+v; want it running and .. still paused", weird, st.Queues)
	}
	_, body = f.get("/?ns=ns")
	if row := queueRow(t, body, weird); !strings.Contains(row, `data-state="active"`) || !strings.Contains(row, `class="pause"`) {
		t.Errorf("after resume the row of %q reads:\n%s", weird, row)
	}

	// Bad input: no queue, an empty name, an unknown action.
	for path, form := range map[string]url.Values{
		"/queue/pause":  {},
		"/queue/resume": {"queue": {""}},
	} {
		form.Set("csrf", f.srv.CSRFToken())
		if code, body := f.post(path, form); code != http.StatusBadRequest {
			t.Errorf("POST %s %v: %d %q, want 400", path, form, code, body)
		}
	}
	if code, _ := f.post("/queue/drain", url.Values{"csrf": {f.srv.CSRFToken()}, "queue": {"jobs"}}); code != http.StatusNotFound {
		t.Errorf("POST /queue/drain: %d, want 404", code)
	}
	if st := f.stats(); st.Queues["jobs"].Paused {
		t.Errorf("after bad requests jobs is paused")
	}
}

// TestDelayedView: the delayed tasks show on the index (the earliest 100) and on
// /delayed, earliest due first with their due times, 100 a page with links to
// the pages before and after, per queue or of all, escaped.
func TestDelayedView(t *testing.T) {
	f := newFixture(t, web.Config{})
	ctx := context.Background()
	var ids []string // of queue "later", earliest due first
	for i := range 105 {
		// Enqueued latest due first, so that the order shown is the store's.
		id, err := f.c.Enqueue(ctx, "later", []byte(hostile), keyq.Type(hostile), keyq.Delay(time.Hour+time.Duration(105-i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{id}, ids...)
	}
	other, err := f.c.Enqueue(ctx, "other", []byte("soon"), keyq.Delay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`<tr class="delayed-row" data-id="([^"]+)"`)
	shown := func(body string) []string {
		var ids []string
		for _, m := range rows.FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}

	_, body := f.get("/?ns=ns")
	checkEscaped(t, body)
	if got := shown(body); len(got) != 100 || got[0] != other || got[1] != ids[0] {
		t.Errorf("the index shows %d delayed tasks starting %v, want 100 starting %s, %s", len(got), got[:min(2, len(got))], other, ids[0])
	}
	if !strings.Contains(body, `id="delayed-next" href="/delayed?ns=ns&amp;queue=&amp;offset=100"`) {
		t.Errorf("the index does not link to the next delayed tasks")
	}
	if !strings.Contains(queueRow(t, body, "later"), `href="/delayed?ns=ns&amp;queue=later">105<`) {
		t.Errorf("the queue row does not link its delayed count to the queue's delayed tasks")
	}

	code, body := f.get("/delayed?ns=ns&queue=later")
	if code != 200 {
		t.Fatalf("GET /delayed: %d\n%s", code, body)
	}
	checkEscaped(t, body)
	if got := shown(body); fmt.Sprint(got) != fmt.Sprint(ids[:100]) {
		t.Errorf("/delayed of later shows %v\nwant %v", got, ids[:100])
	}
	if strings.Contains(body, "delayed-prev") || !strings.Contains(body, `offset=100"`) {
		t.Errorf("the first page links wrongly: prev or no next")
	}
	first, err := f.c.Delayed(ctx, "later", 0, 1)
	if err != nil || len(first) != 1 {
		t.Fatalf("Delayed: %v, %v", first, err)
	}
	due := `data-due="` + first[0].Due.UTC().Format("2006-01-02 15:04:05.000Z") + `">in 1h`
	if !strings.Contains(body, due) || !strings.Contains(body, "&lt;script&gt;window.pwned=1&lt;/script&gt;") {
		t.Errorf("the first page lacks the due time of the earliest (%s) or the escaped payload", due)
	}
	_, body = f.get("/delayed?ns=ns&queue=later&offset=100")
	if got := shown(body); fmt.Sprint(got) != fmt.Sprint(ids[100:]) {
		t.Errorf("/delayed of later from 100 shows %v, want %v", got, ids[100:])
	}
	if !strings.Contains(body, `id="delayed-prev" href="/delayed?ns=ns&amp;queue=later&amp;offset=0"`) || strings.Contains(body, "delayed-next") {
		t.Errorf("the last page links wrongly: no prev or a next")
	}
	_, body = f.get("/delayed?ns=ns&queue=other")
	if got := shown(body); len(got) != 1 || got[0] != other {
		t.Errorf("/delayed of other shows %v, want %s", got, other)
	}
	if _, body = f.get("/delayed?ns=ns&queue=later&offset=500"); !strings.Contains(body, "No delayed task from place 500 on.") {
		t.Errorf("/delayed past the end does not say it is empty")
	}
	for _, o := range []string{"-1", "x", "1e3"} {
		if code, _ := f.get("/delayed?ns=ns&offset=" + o); code != http.StatusBadRequest {
			t.Errorf("GET /delayed?offset=%s: %d, want 400", o, code)
		}
	}

	// The task page finds a delayed task, with its due time, and offers to cancel it.
	_, body = f.get("/task?ns=ns&id=" + url.QueryEscape(other))
	for _, want := range []string{"found</th><td>delayed in other<", "<th>due</th>", `data-field="status">pending<`, `id="cancel"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page of a delayed task lacks %q", want)
		}
	}
}

// TestCancel: the task page's cancel button removes a waiting or delayed task
// and ends a running one's lease; the page then says which and shows the job
// record cancelled. A task that is none of those is 404, saying so.
func TestCancel(t *testing.T) {
	f := newFixture(t, web.Config{})
	for _, c := range []struct {
		name, id, done string
	}{
		{"waiting", f.binary, "cancelled: the task was waiting or delayed, and is removed"},
		{"running", f.leased, "cancelled: the task was running; its lease ended, and its worker cancels the handler"},
	} {
		_, body := f.get("/task?ns=ns&id=" + url.QueryEscape(c.id))
		if !strings.Contains(body, `action="/task/cancel"`) || !strings.Contains(body, `name="id" value="`+c.id+`"`) {
			t.Fatalf("the page of the %s task offers no cancel:\n%s", c.name, body)
		}
		loc := f.postOK("/task/cancel", url.Values{"id": {c.id}})
		u, err := url.Parse(loc)
		if err != nil || u.Path != "/task" || u.Query().Get("id") != c.id || u.Query().Get("done") != c.done {
			t.Errorf("cancel of the %s task redirects to %q, want its page saying %q", c.name, loc, c.done)
		}
		_, body = f.get(loc)
		for _, want := range []string{`id="done">` + c.done + "<", `data-field="status">cancelled<`} {
			if !strings.Contains(body, want) {
				t.Errorf("after cancel the page of the %s task lacks %q", c.name, want)
			}
		}
		if strings.Contains(body, `id="cancel"`) {
			t.Errorf("after cancel the page of the %s task still offers to cancel it", c.name)
		}
	}
	st := f.stats()
	if st.Counters.Cancelled != 2 || st.Queues["bin"].Waiting != 0 || st.Queues["jobs"].Leased != 0 {
		t.Errorf("after two cancels: %+v; want 2 cancelled, bin empty, nothing leased", st)
	}
	if _, body := f.get("/?ns=ns"); !strings.Contains(body, `data-counter="cancelled">2<`) {
		t.Errorf("the index does not show 2 cancelled")
	}

	// A dead task is not offered; cancelling it, an unknown or a cancelled task is 404.
	if _, body := f.get("/task?ns=ns&id=" + url.QueryEscape(f.dead[0])); strings.Contains(body, `id="cancel"`) {
		t.Errorf("the page of a dead task offers to cancel it")
	}
	for _, id := range []string{f.dead[0], "nope<b>", f.binary} {
		code, body := f.post("/task/cancel", url.Values{"csrf": {f.srv.CSRFToken()}, "ns": {"ns"}, "id": {id}})
		if code != http.StatusNotFound || !strings.Contains(body, "nothing to cancel") {
			t.Errorf("cancel of %q: %d %q, want 404 saying there is nothing to cancel", id, code, body)
		}
	}
	if code, _ := f.post("/task/cancel", url.Values{"csrf": {f.srv.CSRFToken()}, "ns": {"ns"}}); code != http.StatusBadRequest {
		t.Errorf("cancel without id: %d, want 400", code)
	}
	if st := f.stats(); st.Queues["jobs"].Dead != 2 || st.Counters.Cancelled != 2 {
		t.Errorf("after refused cancels: %+v; want 2 dead, 2 cancelled", st)
	}
}
