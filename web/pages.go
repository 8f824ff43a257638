package web

import (
	"bytes"
	"context"
	"errors"
	"log"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

// listLimit bounds the leases, dead letters and waiting tasks a page reads.
const listLimit = 100

// readTimeout bounds the store calls of one page.
const readTimeout = 10 * time.Second

// page is what every page shows.
type Page struct {
	Store      string
	Namespace  string
	Namespaces []string
	ReadOnly   bool
	CSRF       string
	Done       string // what the last action did
	Errors     []string
	Now        time.Time
}

type indexPage struct {
	Page
	Queues    []queueRow
	Counters  keyq.Counters
	Chart     chart
	Leases    []keyq.Lease
	Dead      []keyq.DeadTask
	DeadMore  bool
	LeaseMore bool
	Delayed   delayedList
}

type queueRow struct {
	Name string
	keyq.QueueStats
	Chart chart
}

type taskPage struct {
	Page
	ID      string
	Job     *keyq.Job
	Where   string // "leased", "dead", "waiting in q", "delayed in q", or "" when not found
	Task    *keyq.Task
	Dead    *keyq.DeadTask
	Lease   *keyq.Lease
	Delayed *keyq.DelayedTask
	Payload preview
}

// Cancellable reports whether the page offers to cancel the task: it was found
// leased, waiting or delayed, or its job record is not final.
func (v taskPage) Cancellable() bool {
	switch {
	case v.Lease != nil, v.Delayed != nil, strings.HasPrefix(v.Where, "waiting in "):
		return true
	case v.Job != nil:
		return !v.Job.Status.Final()
	}
	return false
}

// namespace returns the namespace the request asks for, and its client.
func (s *Server) namespace(r *http.Request) (string, *keyq.Client, error) {
	ns := r.FormValue("ns")
	if ns == "" {
		ns = s.cfg.Namespace
	}
	c, err := s.client(ns)
	return ns, c, err
}

func (s *Server) newPage(ctx context.Context, ns string, r *http.Request) Page {
	p := Page{Store: s.cfg.Store, Namespace: ns, ReadOnly: s.cfg.ReadOnly, CSRF: s.csrf, Done: r.URL.Query().Get("done"), Now: time.Now()}
	if l, ok := s.cfg.Backend.(backend.NamespaceLister); ok {
		names, err := l.Namespaces(ctx)
		if err != nil {
			p.Errors = append(p.Errors, "listing namespaces: "+err.Error())
		}
		p.Namespaces = names
	}
	if !slices.Contains(p.Namespaces, ns) {
		p.Namespaces = append(p.Namespaces, ns)
		slices.Sort(p.Namespaces)
	}
	return p
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	ns, c, err := s.namespace(r)
	if err != nil {
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	s.sampler.watch(ns)
	v := indexPage{Page: s.newPage(ctx, ns, r)}
	fail := func(what string, err error) { v.Errors = append(v.Errors, problem(what, err)) }
	st, err := c.Stats(ctx)
	if err != nil {
		fail("stats", err)
	}
	v.Counters = st.Counters
	hist := s.sampler.history(ns)
	v.Chart = rateChart(hist)
	for _, name := range sortedKeys(st.Queues) {
		v.Queues = append(v.Queues, queueRow{Name: name, QueueStats: st.Queues[name], Chart: queueChart(hist, name)})
	}
	if v.Leases, err = c.Leases(ctx, listLimit+1); err != nil {
		fail("leases", err)
	}
	if len(v.Leases) > listLimit {
		v.Leases, v.LeaseMore = v.Leases[:listLimit], true
	}
	if v.Dead, err = c.Dead(ctx, 0, listLimit+1); err != nil {
		fail("dead letters", err)
	}
	if len(v.Dead) > listLimit {
		v.Dead, v.DeadMore = v.Dead[:listLimit], true
	}
	if v.Delayed, err = readDelayed(ctx, c, "", 0); err != nil {
		fail("delayed tasks", err)
	}
	s.render(w, "index.html", v)
}

func (s *Server) task(w http.ResponseWriter, r *http.Request) {
	ns, c, err := s.namespace(r)
	if err != nil {
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := r.FormValue("id")
	if id == "" {
		http.Error(w, "400 bad request: no task id", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	v := taskPage{Page: s.newPage(ctx, ns, r), ID: id}
	fail := func(what string, err error) { v.Errors = append(v.Errors, problem(what, err)) }
	switch j, err := c.Job(ctx, id); {
	case err == nil:
		v.Job = &j
	case !errors.Is(err, keyq.ErrNotFound):
		fail("job record", err)
	}
	v.find(ctx, c, fail)
	if v.Task != nil {
		v.Payload = previewOf(v.Task.Payload)
	}
	s.render(w, "task.html", v)
}

// find looks for the task among the leases, the dead letters, the earliest
// delayed tasks and the head of each queue, as far as listLimit reaches.
func (v *taskPage) find(ctx context.Context, c *keyq.Client, fail func(string, error)) {
	leases, err := c.Leases(ctx, listLimit)
	if err != nil {
		fail("leases", err)
	}
	for i := range leases {
		if leases[i].ID == v.ID {
			v.Lease, v.Task, v.Where = &leases[i], &leases[i].Task, "leased"
			return
		}
	}
	dead, err := c.Dead(ctx, 0, listLimit)
	if err != nil {
		fail("dead letters", err)
	}
	for i := range dead {
		if dead[i].ID == v.ID {
			v.Dead, v.Task, v.Where = &dead[i], &dead[i].Task, "dead"
			return
		}
	}
	delayed, err := c.Delayed(ctx, "", 0, listLimit)
	if err != nil {
		fail("delayed tasks", err)
	}
	for i := range delayed {
		if delayed[i].ID == v.ID {
			v.Delayed, v.Task, v.Where = &delayed[i], &delayed[i].Task, "delayed in "+delayed[i].Queue
			return
		}
	}
	st, err := c.Stats(ctx)
	if err != nil {
		fail("stats", err)
		return
	}
	for _, q := range sortedKeys(st.Queues) {
		tasks, err := c.Peek(ctx, q, 0, listLimit)
		if err != nil {
			fail("peek "+q, err)
			continue
		}
		for i := range tasks {
			if tasks[i].ID == v.ID {
				v.Task, v.Where = &tasks[i], "waiting in "+q
				return
			}
		}
	}
}

// deadAction requeues or purges dead letters: the IDs of the form's "id" fields,
// or every one with all=1. It redirects to the namespace's page, which says how
// many it moved.
func (s *Server) deadAction(w http.ResponseWriter, r *http.Request) {
	if !s.checkPost(w, r) {
		return
	}
	ns, c, err := s.namespace(r)
	if err != nil {
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ids, all := r.PostForm["id"], r.PostFormValue("all") == "1"
	if len(ids) == 0 && !all {
		http.Error(w, "400 bad request: no task id and no all=1", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	var n int
	action := r.PathValue("action")
	switch {
	case action == "requeue" && all:
		n, err = c.RequeueAllDead(ctx)
	case action == "requeue":
		n, err = c.RequeueDead(ctx, ids...)
	case action == "purge" && all:
		n, err = c.PurgeAllDead(ctx)
	case action == "purge":
		n, err = c.PurgeDead(ctx, ids...)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		actionFailed(w, action, err)
		return
	}
	verb := map[string]string{"requeue": "requeued", "purge": "purged"}[action]
	q := url.Values{"ns": {ns}, "done": {verb + " " + strconv.Itoa(n) + " dead task" + plural(n)}}
	http.Redirect(w, r, "/?"+q.Encode()+"#dead", http.StatusSeeOther)
}

// problem says what went wrong with one part of a page: the error, or, for a
// part that needs an optional interface the driver lacks (inspection, admin),
// that the backend does not support it.
func problem(what string, err error) string {
	if errors.Is(err, errors.ErrUnsupported) {
		return what + ": not supported by this backend (" + err.Error() + ")"
	}
	return what + ": " + err.Error()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (s *Server) render(w http.ResponseWriter, name string, v any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, v); err != nil {
		log.Printf("keyq web: rendering %s: %v", name, err)
		http.Error(w, "500 internal error: rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
