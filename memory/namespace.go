package memory

import (
	"container/list"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
)

// task is a stored task. It is in exactly one place at a time: a queue, the delayed
// heap, the lease heap (and leases map), or the dead list.
type task struct {
	timed // the due time (delayed) or the lease deadline (leased)

	id       string
	seq      uint64
	queue    *queue
	typ      string
	key      string
	payload  []byte
	headers  map[string]string
	attempt  int
	max      int
	enqueued time.Time
	track    bool
	jobTTL   time.Duration
	token    string // the live lease's token, when leased
}

// snapshot returns the task as delivered, with its own copies of payload and headers.
func (t *task) snapshot() backend.Task {
	var headers map[string]string
	if len(t.headers) > 0 {
		headers = maps.Clone(t.headers)
	}
	return backend.Task{
		ID:          t.id,
		Queue:       t.queue.name,
		Type:        t.typ,
		Key:         t.key,
		Payload:     slices.Clone(t.payload),
		Headers:     headers,
		Attempt:     t.attempt,
		MaxAttempts: t.max,
		EnqueuedAt:  t.enqueued,
	}
}

type queue struct {
	name    string
	tasks   deque
	leased  int64
	delayed int64
	dead    int64
	fresh   int  // tasks that became available in this call
	paused  bool // Controller.Pause: Dequeue skips the queue
}

type answer struct {
	timed // expiry
	key   string
	value []byte
	ok    bool
	ttl   time.Duration
}

type job struct {
	timed // expiry, once final
	rec   backend.Job
}

// cancelledLease is what is left of a lease that Cancel ended: Extend reports it
// Cancelled until its deadline as it was, then housekeeping drops it.
type cancelledLease struct {
	timed // the lease's deadline when it was cancelled
	id    string
	token string
}

type deadTask struct {
	t      *task
	reason string
	died   time.Time
}

// Namespace is the handle of one namespace of a Backend; get it from
// Backend.Namespace (a Namespace made otherwise is not usable). Besides
// backend.Namespace it implements backend.Inspector, backend.Admin,
// backend.Controller, backend.Notifier and backend.RateLimiter. Its methods are
// safe for concurrent use, each runs under the namespace's one lock and none
// waits; after the Backend's Close they return backend.ErrClosed.
type Namespace struct {
	b    *Backend
	mu   sync.Mutex
	name string

	seq       uint64
	queues    map[string]*queue
	leases    map[string]*task // by token
	leaseDue  deadlines[*task]
	delayed   deadlines[*task]
	answers   map[string]*answer
	answerDue deadlines[*answer]
	jobs      map[string]*job
	jobDue    deadlines[*job]
	dead      *list.List               // of *deadTask, oldest first
	deadByID  map[string]*list.Element // into dead
	keys      map[string]int           // waiting, delayed and leased tasks per key
	counters  backend.Counters
	limits    map[string]time.Time // rate limiter state: theoretical arrival times

	cancelled    map[string]*cancelledLease // leases Cancel ended, by token, until their deadlines
	cancelledDue deadlines[*cancelledLease]

	spare []*task // tasks done with, for reuse: fewer allocations on the hot path

	listeners map[uint64]func(backend.Wake) // by registration
	lastID    uint64                        // of the latest registration
	fresh     []*queue                      // queues whose tasks became available in this call
	// eventAt is the earliest delayed due time or lease deadline at the end of the
	// last call; an earlier one at the end of this call sends Wake{} if asked.
	eventAt time.Time
	asked   bool // an empty Dequeue reported Next since the last Wake{}
}

var (
	_ backend.Namespace   = (*Namespace)(nil)
	_ backend.Inspector   = (*Namespace)(nil)
	_ backend.Admin       = (*Namespace)(nil)
	_ backend.Controller  = (*Namespace)(nil)
	_ backend.Notifier    = (*Namespace)(nil)
	_ backend.RateLimiter = (*Namespace)(nil)
)

func newNamespace(b *Backend, name string) *Namespace {
	return &Namespace{
		b:         b,
		listeners: make(map[uint64]func(backend.Wake)),
		name:      name,
		queues:    make(map[string]*queue),
		leases:    make(map[string]*task),
		answers:   make(map[string]*answer),
		jobs:      make(map[string]*job),
		dead:      list.New(),
		deadByID:  make(map[string]*list.Element),
		keys:      make(map[string]int),
		limits:    make(map[string]time.Time),
		cancelled: make(map[string]*cancelledLease),
	}
}

// newTask returns a task struct to fill in, reusing a spare one (and its payload
// buffer) when there is one.
func (ns *Namespace) newTask() *task {
	if n := len(ns.spare); n > 0 {
		t := ns.spare[n-1]
		ns.spare[n-1] = nil
		ns.spare = ns.spare[:n-1]
		return t
	}
	return new(task)
}

// free keeps a task that no structure refers to any more for reuse. Deliveries
// carry copies, so nothing outside the namespace can see it.
func (ns *Namespace) free(t *task) {
	if len(ns.spare) >= 256 || cap(t.payload) > 64<<10 {
		return // keep the spare pool small, and big payloads out of it
	}
	payload := t.payload[:0]
	*t = task{payload: payload}
	ns.spare = append(ns.spare, t)
}

func (ns *Namespace) queue(name string) *queue {
	q := ns.queues[name]
	if q == nil {
		q = &queue{name: name}
		ns.queues[name] = q
	}
	return q
}

func (ns *Namespace) next() uint64 {
	ns.seq++
	return ns.seq
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// housekeep moves due delayed tasks to the head of their queues, then puts expired
// leases back, and drops expired answers, job records and cancelled leases
// (backend/doc.go).
func (ns *Namespace) housekeep(now time.Time) {
	for range backend.HousekeepingBatch {
		t, ok := ns.delayed.due(now)
		if !ok {
			break
		}
		t.queue.delayed--
		t.queue.tasks.pushFront(t)
		ns.avail(t.queue)
	}
	for range backend.HousekeepingBatch {
		t, ok := ns.leaseDue.due(now)
		if !ok {
			break
		}
		ns.unlease(t)
		ns.counters.Reclaimed++
		ns.putBack(t, now, false, 0, false, "lease expired")
	}
	for range backend.HousekeepingBatch {
		a, ok := ns.answerDue.due(now)
		if !ok {
			break
		}
		delete(ns.answers, a.key)
	}
	for range backend.HousekeepingBatch {
		j, ok := ns.jobDue.due(now)
		if !ok {
			break
		}
		delete(ns.jobs, j.rec.ID)
	}
	for range backend.HousekeepingBatch {
		c, ok := ns.cancelledDue.due(now)
		if !ok {
			break
		}
		delete(ns.cancelled, c.token)
	}
}

// unlease removes a task's lease.
func (ns *Namespace) unlease(t *task) {
	delete(ns.leases, t.token)
	ns.leaseDue.remove(t)
	t.token = ""
	t.queue.leased--
}

// putBack returns a task whose lease ended: to the dead-letter list when its
// attempts are used up, which it reports, else to its queue (head or tail) or
// after a delay.
func (ns *Namespace) putBack(t *task, now time.Time, keepAttempt bool, delay time.Duration, toTail bool, reason string) (dead bool) {
	if !keepAttempt {
		t.attempt++
		if t.attempt >= t.max {
			ns.bury(t, now, reason)
			return true
		}
	}
	ns.setJob(t, now, backend.StatusPending, reason)
	switch {
	case delay > 0:
		ns.delay(t, now.Add(delay))
	case toTail:
		t.queue.tasks.pushBack(t)
		ns.avail(t.queue)
	default:
		t.queue.tasks.pushFront(t)
		ns.avail(t.queue)
	}
	return false
}

func (ns *Namespace) delay(t *task, due time.Time) {
	t.queue.delayed++
	ns.delayed.add(t, due, t.seq)
}

// bury moves a task to the dead-letter list.
func (ns *Namespace) bury(t *task, now time.Time, reason string) {
	if reason == "" {
		reason = "dead-lettered"
	}
	ns.deadByID[t.id] = ns.dead.PushBack(&deadTask{t: t, reason: reason, died: now})
	t.queue.dead++
	ns.counters.Dead++
	ns.dropKey(t.key)
	ns.setJob(t, now, backend.StatusDead, reason)
}

func (ns *Namespace) dropKey(key string) {
	if n := ns.keys[key]; n > 1 {
		ns.keys[key] = n - 1
	} else {
		delete(ns.keys, key)
	}
}

// liveAnswer returns the answer stored under key, if it has not expired.
func (ns *Namespace) liveAnswer(key string, now time.Time) *answer {
	a := ns.answers[key]
	if a == nil || !a.at.After(now) {
		return nil
	}
	return a
}

func (ns *Namespace) refresh(a *answer, now time.Time) {
	ns.answerDue.move(a, now.Add(a.ttl))
}

// setAnswer stores an answer whose TTL is kept in whole milliseconds, rounded up,
// as on every backend (backend.Millis).
func (ns *Namespace) setAnswer(key string, v backend.Answer, now time.Time) {
	v.TTL = backend.RoundUp(v.TTL)
	if a := ns.answers[key]; a != nil {
		a.value, a.ok, a.ttl = v.Value, v.OK, v.TTL
		ns.answerDue.move(a, now.Add(v.TTL))
		return
	}
	a := &answer{key: key, value: v.Value, ok: v.OK, ttl: v.TTL}
	ns.answers[key] = a
	ns.answerDue.add(a, now.Add(v.TTL), 0)
}

// setJob records a task's status, if the task is tracked. A final status starts the
// record's expiry.
func (ns *Namespace) setJob(t *task, now time.Time, status backend.JobStatus, lastErr string) {
	if !t.track {
		return
	}
	j := ns.jobs[t.id]
	if j == nil {
		j = &job{timed: timed{index: -1}, rec: backend.Job{ID: t.id, Queue: t.queue.name, Type: t.typ, EnqueuedAt: t.enqueued}}
		ns.jobs[t.id] = j
	}
	j.rec.Status = status
	// Attempts counts the deliveries that started (backend.Job): a delivery
	// counts as it starts, and a final status keeps the count of the delivery or
	// put-back that led to it.
	switch status {
	case backend.StatusRunning:
		j.rec.Attempts = t.attempt + 1
	case backend.StatusPending:
		j.rec.Attempts = t.attempt
	}
	if lastErr != "" {
		j.rec.LastError = lastErr
	}
	switch {
	case status == backend.StatusRunning:
		j.rec.StartedAt = now
	case status.Final():
		j.rec.EndedAt = now
		if j.index >= 0 {
			ns.jobDue.move(j, now.Add(t.jobTTL))
		} else {
			ns.jobDue.add(j, now.Add(t.jobTTL), 0)
		}
		return
	}
	if j.index >= 0 { // back from final (a requeued dead task): no longer expires
		ns.jobDue.remove(j)
	}
}
