package keyqtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/keyq/keyq"
)

// listMax is how many waiting tasks a failure message lists.
const listMax = 50

// RequireEnqueued returns the first task waiting in queue, from its head, for
// which match returns true; a nil match takes any task. If none matches, it
// fails tb with a message that lists the tasks waiting there (up to 50) and
// counts the delayed and leased ones, which it cannot show.
func RequireEnqueued(tb testing.TB, c *keyq.Client, queue string, match func(*keyq.Task) bool) *keyq.Task {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	st, err := c.Stats(ctx, queue)
	if err != nil {
		tb.Fatalf("keyqtest: RequireEnqueued: %v", err)
		return nil
	}
	qs := st.Queues[queue]
	var tasks []keyq.Task
	if qs.Waiting > 0 {
		if tasks, err = c.Peek(ctx, queue, 0, int(qs.Waiting)); err != nil {
			tb.Fatalf("keyqtest: RequireEnqueued: %v", err)
			return nil
		}
	}
	for i := range tasks {
		if match == nil || match(&tasks[i]) {
			return &tasks[i]
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "keyqtest: no task waiting in queue %q matches; ", queue)
	switch len(tasks) {
	case 0:
		b.WriteString("none waits")
	case 1:
		b.WriteString("1 waits:")
	default:
		fmt.Fprintf(&b, "%d wait, from the head:", len(tasks))
	}
	for i, t := range tasks {
		if i == listMax {
			fmt.Fprintf(&b, "\n\t... and %d more", len(tasks)-listMax)
			break
		}
		fmt.Fprintf(&b, "\n\t%s", describe(&t))
	}
	if qs.Delayed > 0 || qs.Leased > 0 {
		fmt.Fprintf(&b, "\n\t(not shown: %d delayed, %d leased)", qs.Delayed, qs.Leased)
	}
	tb.Fatal(b.String())
	return nil
}

// describe shows a task on one line.
func describe(t *keyq.Task) string {
	s := fmt.Sprintf("ID %s type %q payload %q", t.ID, t.Type, clip(t.Payload))
	if t.Key != string(t.Payload) {
		s += fmt.Sprintf(" key %q", t.Key)
	}
	if len(t.Headers) > 0 {
		s += fmt.Sprintf(" headers %v", t.Headers)
	}
	if t.Attempt > 0 {
		s += fmt.Sprintf(" attempt %d", t.Attempt)
	}
	return s
}

// clip shortens a long payload for a message.
func clip(p []byte) string {
	if len(p) > 200 {
		return string(p[:200]) + "..."
	}
	return string(p)
}

// HasType matches a task of type typ.
func HasType(typ string) func(*keyq.Task) bool {
	return func(t *keyq.Task) bool { return t.Type == typ }
}

// HasPayload matches a task whose payload is p.
func HasPayload(p string) func(*keyq.Task) bool {
	return func(t *keyq.Task) bool { return string(t.Payload) == p }
}

// HasKey matches a task whose key is k.
func HasKey(k string) func(*keyq.Task) bool {
	return func(t *keyq.Task) bool { return t.Key == k }
}
