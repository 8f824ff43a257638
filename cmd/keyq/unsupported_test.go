package main

import (
	"context"
	"strings"
	"testing"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/memory"
)

// bare is a store whose driver has the required interfaces alone: no Inspector,
// Admin or NamespaceLister. The command does not close it.
type bare struct{ backend.Backend }

func (bare) Close() error { return nil }

func (b bare) Namespace(name string) (backend.Namespace, error) {
	h, err := b.Backend.Namespace(name)
	if err != nil {
		return nil, err
	}
	return struct{ backend.Namespace }{h}, nil
}

// TestUnsupported: on a store whose driver cannot inspect, the commands that need
// inspection, admin or a namespace listing fail with exit status 1 and say that
// the backend does not support them; enqueue, which needs none, works.
func TestUnsupported(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { b.Close() })
	open := func(context.Context, string) (backend.Backend, error) { return bare{b}, nil }
	for _, args := range [][]string{
		{"stats"}, {"peek"}, {"leases"}, {"job", "1"}, {"dead", "list"}, {"dead", "purge", "--all"},
		{"dead", "requeue", "1"}, {"answer", "delete", "k"}, {"namespaces"},
		{"delayed"}, {"pause", "q"}, {"resume", "q"}, {"cancel", "1"}, {"delete", "1"},
	} {
		code, out, errOut := runCmd(t, open, "", append(args, "--redis", "redis://x")...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "keyq "+args[0]+": not supported by this backend: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("keyq %q: exit %d, stdout %q, stderr %q; want exit 1 and one line saying the backend does not support it", args, code, out, errOut)
		}
	}
	if code, _, errOut := runCmd(t, open, "", "enqueue", "--redis", "redis://x", "x"); code != 0 {
		t.Errorf("keyq enqueue on a driver without optional interfaces: exit %d, %s", code, errOut)
	}
}
