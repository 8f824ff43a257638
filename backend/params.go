package backend

import (
	"fmt"
	"time"
)

// EnqueueParams are the arguments of Backend.Enqueue.
type EnqueueParams struct {
	Namespace string
	Queue     string
	Tasks     []Message // at least one
	AtHead    bool
	Delay     time.Duration // 0 to MaxDuration
	Unique    bool
	// TrackJobs writes a job record per task; JobTTL is how long a record lives once
	// it reaches a final status (S6.3, S6.4).
	TrackJobs bool
	JobTTL    time.Duration
}

// DequeueParams are the arguments of Backend.Dequeue.
type DequeueParams struct {
	Namespace string
	Queues    []string      // at least one, in priority order
	Count     int           // 1 to MaxCount
	Wait      time.Duration // >= 0
	Lease     time.Duration // > 0
}

// AckParams are the arguments of Backend.Ack.
type AckParams struct {
	Namespace string
	TaskID    string
	Token     string
	Answer    *Answer   // stored under the task's key when not nil
	Status    JobStatus // the final job status; empty means StatusFinished
	Error     string    // recorded as the job's last error
}

// ReleaseParams are the arguments of Backend.Release.
type ReleaseParams struct {
	Namespace   string
	TaskID      string
	Token       string
	ToTail      bool          // put it at the tail instead of the head
	Delay       time.Duration // >= 0; make it available at the head after this delay
	Error       string        // recorded as the job's last error and the dead reason
	KeepAttempt bool          // do not count this delivery as an attempt
	DeadLetter  bool          // dead-letter it now, whatever its attempt count
}

// ExtendParams are the arguments of Backend.Extend.
type ExtendParams struct {
	Namespace string
	TaskID    string
	Token     string
	Lease     time.Duration // > 0
}

// ReclaimParams are the arguments of Backend.Reclaim.
type ReclaimParams struct {
	Namespace string
}

// SetAnswerParams are the arguments of Backend.SetAnswer.
type SetAnswerParams struct {
	Namespace string
	Key       string
	Answer    Answer
}

// GetAnswerParams are the arguments of Backend.GetAnswer.
type GetAnswerParams struct {
	Namespace string
	Key       string
	Refresh   bool // reset the TTL to its full length
}

// DeleteAnswerParams are the arguments of Backend.DeleteAnswer.
type DeleteAnswerParams struct {
	Namespace string
	Key       string
}

// JobParams are the arguments of Backend.Job.
type JobParams struct {
	Namespace string
	ID        string
}

// StatsParams are the arguments of Backend.Stats.
type StatsParams struct {
	Namespace string
	Queues    []string // empty means every queue the namespace has seen
}

// PeekParams are the arguments of Backend.Peek.
type PeekParams struct {
	Namespace string
	Queue     string
	Offset    int // >= 0, from the head
	Count     int // >= 1
}

// LeasesParams are the arguments of Backend.Leases.
type LeasesParams struct {
	Namespace string
	Count     int // >= 1
}

// DeadParams are the arguments of Backend.Dead.
type DeadParams struct {
	Namespace string
	Offset    int // >= 0, from the oldest
	Count     int // >= 1
}

// DeadActionParams select dead tasks for RequeueDead and PurgeDead: every one with
// All, else those in IDs (unknown IDs are ignored).
type DeadActionParams struct {
	Namespace string
	IDs       []string
	All       bool
}

// AllowParams are the arguments of RateLimiter.Allow: the limiter grants one token
// every Interval, with up to Burst tokens at once.
type AllowParams struct {
	Namespace string
	Name      string
	Interval  time.Duration // > 0
	Burst     int           // >= 1
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

func checkLease(ns, id, token string) error {
	if err := checkName("namespace", ns); err != nil {
		return err
	}
	if id == "" || token == "" {
		return invalid("lease without task ID or token")
	}
	return nil
}

func checkAnswer(a Answer) error {
	return checkPositive("answer TTL", a.TTL)
}

// Validate reports whether p is fit to pass to a driver.
func (p *EnqueueParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
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
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
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
	if err := checkNonNegative("wait", p.Wait); err != nil {
		return err
	}
	return checkPositive("lease", p.Lease)
}

// Validate reports whether p is fit to pass to a driver.
func (p *AckParams) Validate() error {
	if err := checkLease(p.Namespace, p.TaskID, p.Token); err != nil {
		return err
	}
	switch p.Status {
	case "", StatusFinished, StatusFailed, StatusTimeout:
	default:
		return invalid("ack with status %q", p.Status)
	}
	if p.Answer != nil {
		return checkAnswer(*p.Answer)
	}
	return nil
}

// Validate reports whether p is fit to pass to a driver.
func (p *ReleaseParams) Validate() error {
	if err := checkLease(p.Namespace, p.TaskID, p.Token); err != nil {
		return err
	}
	return checkNonNegative("delay", p.Delay)
}

// Validate reports whether p is fit to pass to a driver.
func (p *ExtendParams) Validate() error {
	if err := checkLease(p.Namespace, p.TaskID, p.Token); err != nil {
		return err
	}
	return checkPositive("lease", p.Lease)
}

// Validate reports whether p is fit to pass to a driver.
func (p *ReclaimParams) Validate() error { return checkName("namespace", p.Namespace) }

// Validate reports whether p is fit to pass to a driver.
func (p *SetAnswerParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
	return checkAnswer(p.Answer)
}

// Validate reports whether p is fit to pass to a driver.
func (p *GetAnswerParams) Validate() error { return checkName("namespace", p.Namespace) }

// Validate reports whether p is fit to pass to a driver.
func (p *DeleteAnswerParams) Validate() error { return checkName("namespace", p.Namespace) }

// Validate reports whether p is fit to pass to a driver.
func (p *JobParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
	return checkName("job ID", p.ID)
}

// Validate reports whether p is fit to pass to a driver.
func (p *StatsParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
	for _, q := range p.Queues {
		if err := checkName("queue name", q); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports whether p is fit to pass to a driver.
func (p *PeekParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
	if err := checkName("queue name", p.Queue); err != nil {
		return err
	}
	return checkWindow(p.Offset, p.Count)
}

// Validate reports whether p is fit to pass to a driver.
func (p *LeasesParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
	return checkWindow(0, p.Count)
}

// Validate reports whether p is fit to pass to a driver.
func (p *DeadParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
	return checkWindow(p.Offset, p.Count)
}

// Validate reports whether p is fit to pass to a driver.
func (p *DeadActionParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
	if !p.All && len(p.IDs) == 0 {
		return invalid("no dead tasks selected")
	}
	return nil
}

// Validate reports whether p is fit to pass to a driver.
func (p *AllowParams) Validate() error {
	if err := checkName("namespace", p.Namespace); err != nil {
		return err
	}
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
