package backend

import (
	"fmt"
	"time"
)

// EnqueueParams are the arguments of Backend.Enqueue.
type EnqueueParams struct {
	Queue  string
	Tasks  []Message // at least one
	AtHead bool
	Delay  time.Duration // 0 to MaxDuration
	Unique bool
	// TrackJobs writes a job record per task; JobTTL is how long a record lives once
	// it reaches a final status (S6.3, S6.4).
	TrackJobs bool
	JobTTL    time.Duration
}

// DequeueParams are the arguments of Backend.Dequeue.
type DequeueParams struct {
	Queues []string      // at least one, in priority order
	Count  int           // 1 to MaxCount
	Lease  time.Duration // > 0
}

// Action is what a Settlement does with its lease.
type Action uint8

// The actions of a Settlement.
const (
	// Ack ends the lease and removes its task for good (S4.2), storing Answer,
	// when set, under the task's key in the same atomic step (S5.1).
	Ack Action = iota + 1
	// Release puts the task back: at the head, at the tail with ToTail, or after
	// Delay, with its attempt count up by one unless KeepAttempt (S4.3). A task
	// whose attempt count reaches its MaxAttempts goes to the dead-letter list
	// instead (S4.7), and its result is SettleDead.
	Release
	// DeadLetter sends the task to the dead-letter list now, whatever its attempt
	// count, which it leaves as it was (S4.7).
	DeadLetter
)

// LeaseRef names one delivery: a task and the token of its lease (S4.6).
type LeaseRef struct {
	TaskID string
	Token  string
}

// Settlement is one item of a Settle: a lease and its outcome. Fields that do
// not apply to its Action must be zero.
type Settlement struct {
	LeaseRef
	Action Action
	Answer *Answer   // Ack: stored under the task's key when not nil
	Status JobStatus // Ack: the final job status; empty means StatusFinished
	// Error is recorded as the job's last error, and as the dead reason when the
	// task is dead-lettered.
	Error       string
	ToTail      bool          // Release: to the tail instead of the head
	Delay       time.Duration // Release: >= 0; available at the head after it
	KeepAttempt bool          // Release: do not count this delivery as an attempt
}

// SettleParams are the arguments of Namespace.Settle.
type SettleParams struct {
	Items []Settlement // 1 to MaxCount
}

// SettleResult is what a Settle did with one item.
type SettleResult uint8

// The results of a Settle item. The zero value is not a result: a driver that
// returns it has failed, and callers treat it as a malformed reply.
const (
	SettleDone SettleResult = iota + 1 // acked, or released as asked, or dead-lettered by DeadLetter
	SettleLost                         // the lease had expired or ended; nothing changed (S4.6)
	SettleDead                         // a Release that reached MaxAttempts: dead-lettered (S4.7)
)

// String returns "done", "lost" or "dead".
func (r SettleResult) String() string {
	switch r {
	case SettleDone:
		return "done"
	case SettleLost:
		return "lost"
	case SettleDead:
		return "dead"
	}
	return fmt.Sprintf("SettleResult(%d)", uint8(r))
}

// ExtendParams are the arguments of Namespace.Extend.
type ExtendParams struct {
	Leases []LeaseRef    // 1 to MaxCount
	Lease  time.Duration // > 0
}

// SetAnswerParams are the arguments of Backend.SetAnswer.
type SetAnswerParams struct {
	Key    string
	Answer Answer
}

// GetAnswerParams are the arguments of Backend.GetAnswer.
type GetAnswerParams struct {
	Key     string
	Refresh bool // reset the TTL to its full length
}

// DeleteAnswerParams are the arguments of Backend.DeleteAnswer.
type DeleteAnswerParams struct {
	Key string
}

// JobParams are the arguments of Backend.Job.
type JobParams struct {
	ID string
}

// StatsParams are the arguments of Backend.Stats.
type StatsParams struct {
	Queues []string // empty means every queue the namespace has seen
}

// PeekParams are the arguments of Backend.Peek.
type PeekParams struct {
	Queue  string
	Offset int // >= 0, from the head
	Count  int // >= 1
}

// LeasesParams are the arguments of Backend.Leases.
type LeasesParams struct {
	Count int // >= 1
}

// DeadParams are the arguments of Backend.Dead.
type DeadParams struct {
	Offset int // >= 0, from the oldest
	Count  int // >= 1
}

// DeadActionParams select dead tasks for RequeueDead and PurgeDead: every one with
// All, else those in IDs (unknown IDs are ignored).
type DeadActionParams struct {
	IDs []string
	All bool
}

// DelayedParams are the arguments of Inspector.Delayed.
type DelayedParams struct {
	Queue  string // empty: every queue
	Offset int    // >= 0, from the earliest due
	Count  int    // >= 1
}

// PauseParams are the arguments of Controller.Pause.
type PauseParams struct {
	Queues []string // at least one
	Resume bool     // start deliveries again instead
}

// CancelParams are the arguments of Controller.Cancel.
type CancelParams struct {
	ID string
	// Running allows ending a live lease of the task; without it a leased task
	// gives ErrLeased.
	Running bool
}

// AllowParams are the arguments of RateLimiter.Allow: the limiter grants one token
// every Interval, with up to Burst tokens at once.
type AllowParams struct {
	Name     string
	Interval time.Duration // > 0
	Burst    int           // >= 1
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func checkName(what, s string) error {
	if s == "" {
		return invalid("empty %s", what)
	}
	return nil
}

func checkNonNegative(what string, d time.Duration) error {
	if d < 0 {
		return invalid("negative %s %v", what, d)
	}
	return checkMax(what, d)
}

func checkPositive(what string, d time.Duration) error {
	if d <= 0 {
		return invalid("%s %v is not positive", what, d)
	}
	return checkMax(what, d)
}

func checkAnswer(a Answer) error {
	return checkPositive("answer TTL", a.TTL)
}

// Validate reports whether p is fit to pass to a driver.
func (p *EnqueueParams) Validate() error {
	if err := checkName("queue name", p.Queue); err != nil {
		return err
	}
	if len(p.Tasks) == 0 {
		return invalid("no tasks to enqueue")
	}
	if err := checkNonNegative("delay", p.Delay); err != nil {
		return err
	}
	if p.TrackJobs {
		if err := checkPositive("job TTL", p.JobTTL); err != nil {
			return err
		}
	}
	for i := range p.Tasks {
		if m := p.Tasks[i].MaxAttempts; m < 1 || m > MaxAttemptsLimit {
			return invalid("task %d: max attempts %d out of range 1 to %d", i, m, MaxAttemptsLimit)
		}
	}
	return nil
}

// Validate reports whether p is fit to pass to a driver.
func (p *DequeueParams) Validate() error {
	if len(p.Queues) == 0 {
		return invalid("no queues to dequeue from")
	}
	for _, q := range p.Queues {
		if err := checkName("queue name", q); err != nil {
			return err
		}
	}
	if p.Count < 1 || p.Count > MaxCount {
		return invalid("batch size %d out of range 1 to %d", p.Count, MaxCount)
	}
	return checkPositive("lease", p.Lease)
}

// Validate reports whether p is fit to pass to a driver.
func (p *SettleParams) Validate() error {
	if len(p.Items) == 0 || len(p.Items) > MaxCount {
		return invalid("%d leases to settle, want 1 to %d", len(p.Items), MaxCount)
	}
	for i := range p.Items {
		if err := p.Items[i].validate(); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
	}
	return nil
}

func (s *Settlement) validate() error {
	if err := s.LeaseRef.validate(); err != nil {
		return err
	}
	release := s.ToTail || s.Delay != 0 || s.KeepAttempt
	switch s.Action {
	case Ack:
		if release {
			return invalid("ack with release fields")
		}
		switch s.Status {
		case "", StatusFinished, StatusFailed, StatusTimeout:
		default:
			return invalid("ack with status %q", s.Status)
		}
		if s.Answer != nil {
			return checkAnswer(*s.Answer)
		}
		return nil
	case Release:
		if s.Answer != nil || s.Status != "" {
			return invalid("release with an answer or status")
		}
		return checkNonNegative("delay", s.Delay)
	case DeadLetter:
		if release || s.Answer != nil || s.Status != "" {
			return invalid("dead-letter with ack or release fields")
		}
		return nil
	}
	return invalid("settle action %d", s.Action)
}

func (r *LeaseRef) validate() error {
	if r.TaskID == "" || r.Token == "" {
		return invalid("lease without task ID or token")
	}
	return nil
}

// Validate reports whether p is fit to pass to a driver.
func (p *ExtendParams) Validate() error {
	if len(p.Leases) == 0 || len(p.Leases) > MaxCount {
		return invalid("%d leases to extend, want 1 to %d", len(p.Leases), MaxCount)
	}
	for i := range p.Leases {
		if err := p.Leases[i].validate(); err != nil {
			return fmt.Errorf("lease %d: %w", i, err)
		}
	}
	return checkPositive("lease", p.Lease)
}

// Validate reports whether p is fit to pass to a driver.
func (p *SetAnswerParams) Validate() error {
	return checkAnswer(p.Answer)
}

// Validate reports whether p is fit to pass to a driver.
func (p *GetAnswerParams) Validate() error { return nil }

// Validate reports whether p is fit to pass to a driver.
func (p *DeleteAnswerParams) Validate() error { return nil }

// Validate reports whether p is fit to pass to a driver.
func (p *JobParams) Validate() error {
	return checkName("job ID", p.ID)
}

// Validate reports whether p is fit to pass to a driver.
func (p *StatsParams) Validate() error {
	for _, q := range p.Queues {
		if err := checkName("queue name", q); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports whether p is fit to pass to a driver.
func (p *PeekParams) Validate() error {
	if err := checkName("queue name", p.Queue); err != nil {
		return err
	}
	return checkWindow(p.Offset, p.Count)
}

// Validate reports whether p is fit to pass to a driver.
func (p *LeasesParams) Validate() error {
	return checkWindow(0, p.Count)
}

// Validate reports whether p is fit to pass to a driver.
func (p *DeadParams) Validate() error {
	return checkWindow(p.Offset, p.Count)
}

// Validate reports whether p is fit to pass to a driver.
func (p *DeadActionParams) Validate() error {
	if !p.All && len(p.IDs) == 0 {
		return invalid("no dead tasks selected")
	}
	return nil
}

// Validate reports whether p is fit to pass to a driver.
func (p *DelayedParams) Validate() error {
	return checkWindow(p.Offset, p.Count)
}

// Validate reports whether p is fit to pass to a driver.
func (p *PauseParams) Validate() error {
	if len(p.Queues) == 0 {
		return invalid("no queues to pause or resume")
	}
	for _, q := range p.Queues {
		if err := checkName("queue name", q); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports whether p is fit to pass to a driver.
func (p *CancelParams) Validate() error {
	return checkName("task ID", p.ID)
}

// Validate reports whether p is fit to pass to a driver.
func (p *AllowParams) Validate() error {
	if err := checkName("limiter name", p.Name); err != nil {
		return err
	}
	if err := checkPositive("rate interval", p.Interval); err != nil {
		return err
	}
	if p.Burst < 1 || p.Burst > MaxCount {
		return invalid("burst %d out of range 1 to %d", p.Burst, MaxCount)
	}
	return nil
}

func checkWindow(offset, count int) error {
	if offset < 0 {
		return invalid("negative offset %d", offset)
	}
	if count < 1 {
		return invalid("count %d is below 1", count)
	}
	return nil
}
