package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/web"
)

// bare is a backend whose namespace handles have the required methods alone: a
// driver without Inspector, Admin or NamespaceLister.
type bare struct{ backend.Backend }

func (b bare) Namespace(name string) (backend.Namespace, error) {
	h, err := b.Backend.Namespace(name)
	if err != nil {
		return nil, err
	}
	return struct{ backend.Namespace }{h}, nil
}

// TestWithoutInspector: on a backend that cannot inspect, the pages still render
// and say, for each part, that the backend does not support it; a dead-letter
// action is 501 Not Implemented, saying the same.
func TestWithoutInspector(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { b.Close() })
	srv, err := web.New(web.Config{Backend: bare{b}, Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	f := &fixture{t: t, srv: srv, ts: httptest.NewServer(srv)}
	t.Cleanup(f.ts.Close)
	for path, wants := range map[string][]string{
		"/":                {"stats: not supported by this backend", "leases: not supported by this backend", "dead letters: not supported by this backend"},
		"/task?ns=ns&id=1": {"job record: not supported by this backend", "leases: not supported by this backend"},
	} {
		code, body := f.get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, code, body)
		}
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s does not say %q", path, want)
			}
		}
	}
	code, body := f.post("/dead/purge", url.Values{"ns": {"ns"}, "all": {"1"}}, "X-CSRF-Token", srv.CSRFToken())
	if code != http.StatusNotImplemented || !strings.Contains(body, "not supported by this backend") {
		t.Errorf("POST /dead/purge: %d %q; want 501 saying it is not supported", code, body)
	}
}

// noControl is a backend whose namespace handles inspect and repair but have no
// Controller: a driver from before pause and cancel.
type noControl struct{ backend.Backend }

func (b noControl) Namespace(name string) (backend.Namespace, error) {
	h, err := b.Backend.Namespace(name)
	if err != nil {
		return nil, err
	}
	return struct {
		backend.Namespace
		backend.Inspector
		backend.Admin
	}{h, h.(backend.Inspector), h.(backend.Admin)}, nil
}

// TestWithoutController: on a backend without a Controller the pages render with
// no error, and pause, resume and cancel are 501 Not Implemented, saying so; on
// one without an Inspector the delayed view says it is not supported.
func TestWithoutController(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { b.Close() })
	c, err := keyq.New(b, "ns")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Enqueue(context.Background(), "jobs", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Backend: noControl{b}, Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	f := &fixture{t: t, srv: srv, ts: httptest.NewServer(srv)}
	t.Cleanup(f.ts.Close)
	for _, path := range []string{"/", "/delayed?ns=ns", "/task?ns=ns&id=" + url.QueryEscape(id)} {
		if code, body := f.get(path); code != http.StatusOK || strings.Contains(body, `class="error"`) {
			t.Errorf("GET %s: %d, or it shows an error:\n%s", path, code, body)
		}
	}
	for path, form := range map[string]url.Values{
		"/queue/pause":  {"queue": {"jobs"}},
		"/queue/resume": {"queue": {"jobs"}},
		"/task/cancel":  {"id": {id}},
	} {
		form.Set("ns", "ns")
		code, body := f.post(path, form, "X-CSRF-Token", srv.CSRFToken())
		if code != http.StatusNotImplemented || !strings.Contains(body, "not supported by this backend") {
			t.Errorf("POST %s: %d %q; want 501 saying it is not supported", path, code, body)
		}
	}
	if st, err := c.Stats(context.Background()); err != nil || st.Queues["jobs"].Waiting != 1 {
		t.Errorf("after refused actions: %+v, %v; want the task waiting", st, err)
	}

	srv, err = web.New(web.Config{Backend: bare{b}, Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	f = &fixture{t: t, srv: srv, ts: httptest.NewServer(srv)}
	t.Cleanup(f.ts.Close)
	for _, path := range []string{"/", "/delayed?ns=ns"} {
		if code, body := f.get(path); code != http.StatusOK || !strings.Contains(body, "delayed tasks: not supported by this backend") {
			t.Errorf("GET %s on a backend without Inspector: %d, not saying delayed tasks are not supported", path, code)
		}
	}
}
