package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyq/keyq"
)

// The control of queued and running work (S12): pause and resume a queue,
// cancel a task, list the delayed tasks. The queue and the task travel in form
// fields, not in the path: a queue may be named "..", which a browser and the
// server's path cleaning would rewrite, or hold any other character.

// queueAction pauses or resumes the queues of the form's "queue" fields. It
// redirects to the namespace's page, which says what it did.
func (s *Server) queueAction(w http.ResponseWriter, r *http.Request) {
	if !s.checkPost(w, r) {
		return
	}
	ns, c, err := s.namespace(r)
	if err != nil {
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	action := r.PathValue("action")
	var f func(context.Context, ...string) error
	switch action {
	case "pause":
		f = c.Pause
	case "resume":
		f = c.Resume
	default:
		http.NotFound(w, r)
		return
	}
	queues := r.PostForm["queue"]
	if len(queues) == 0 {
		http.Error(w, "400 bad request: no queue", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	if err := f(ctx, queues...); err != nil {
		actionFailed(w, action, err)
		return
	}
	verb := map[string]string{"pause": "paused", "resume": "resumed"}[action]
	q := url.Values{"ns": {ns}, "done": {verb + " queue" + plural(len(queues)) + " " + strings.Join(queues, ", ")}}
	http.Redirect(w, r, "/?"+q.Encode()+"#queues", http.StatusSeeOther)
}

// cancelTask cancels the task of the form's "id" field: removes it when it is
// waiting or delayed, ends its lease when it is running. It redirects to the
// task's page, which says which; a task that is none of those is 404.
func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) {
	if !s.checkPost(w, r) {
		return
	}
	ns, c, err := s.namespace(r)
	if err != nil {
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := r.PostFormValue("id")
	if id == "" {
		http.Error(w, "400 bad request: no task id", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	res, err := c.Cancel(ctx, id)
	if errors.Is(err, keyq.ErrNotFound) {
		http.Error(w, fmt.Sprintf("404 not found: task %q is not waiting, delayed or running (unknown, finished, dead or already cancelled): nothing to cancel", id), http.StatusNotFound)
		return
	}
	if err != nil {
		actionFailed(w, "cancel", err)
		return
	}
	done := "cancelled: the task was waiting or delayed, and is removed"
	if res == keyq.CancelRunning {
		done = "cancelled: the task was running; its lease ended, and its worker cancels the handler"
	}
	q := url.Values{"ns": {ns}, "id": {id}, "done": {done}}
	http.Redirect(w, r, "/task?"+q.Encode(), http.StatusSeeOther)
}

// actionFailed answers a POST whose action failed: 400 for bad input, 501 for
// an action the backend does not support, 500 else.
func actionFailed(w http.ResponseWriter, action string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, keyq.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, errors.ErrUnsupported):
		code = http.StatusNotImplemented
	}
	http.Error(w, fmt.Sprintf("%d: %s", code, problem(action, err)), code)
}

// delayedList is a page of delayed tasks, earliest due first.
type delayedList struct {
	Queue  string // "" for every queue
	Offset int
	Tasks  []keyq.DelayedTask
	More   bool // there are tasks after these
}

// Prev and Next are the offsets of the pages before and after.
func (l delayedList) Prev() int { return max(l.Offset-listLimit, 0) }
func (l delayedList) Next() int { return l.Offset + listLimit }

// readDelayed reads listLimit delayed tasks of queue from offset.
func readDelayed(ctx context.Context, c *keyq.Client, queue string, offset int) (delayedList, error) {
	l := delayedList{Queue: queue, Offset: offset}
	tasks, err := c.Delayed(ctx, queue, offset, listLimit+1)
	if len(tasks) > listLimit {
		tasks, l.More = tasks[:listLimit], true
	}
	l.Tasks = tasks
	return l, err
}

type delayedPage struct {
	Page
	Delayed delayedList
}

// delayed shows the delayed tasks not yet due, of the queue of ?queue= or of
// every queue, listLimit from ?offset=.
func (s *Server) delayed(w http.ResponseWriter, r *http.Request) {
	ns, c, err := s.namespace(r)
	if err != nil {
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	offset := 0
	if o := r.FormValue("offset"); o != "" {
		if offset, err = strconv.Atoi(o); err != nil || offset < 0 {
			http.Error(w, fmt.Sprintf("400 bad request: offset %q is not a whole number from 0", o), http.StatusBadRequest)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	v := delayedPage{Page: s.newPage(ctx, ns, r)}
	if v.Delayed, err = readDelayed(ctx, c, r.FormValue("queue"), offset); err != nil {
		v.Errors = append(v.Errors, problem("delayed tasks", err))
	}
	s.render(w, "delayed.html", v)
}
