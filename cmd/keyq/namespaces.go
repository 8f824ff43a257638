package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

func cmdNamespaces(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq namespaces [flags]", `
Namespaces lists the namespaces the store holds, sorted, one a line: every
namespace with a queue, a counter, an answer, a job record, a dead task or rate
limiter state. A name with spaces, quotes or unprintable characters is printed
Go-quoted; --json prints {"namespace": name} lines, or namespace_base64 for a
name that is not UTF-8.

On Redis it walks the keys with SCAN (never KEYS), on every master of a
cluster: the more keys the server holds, keyq's or not, the longer it takes.`)
	s := serverFlags(fs.FlagSet)
	args, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return fs.badUsage("unexpected arguments %q", args)
	}
	b, err := env.Open(ctx, s.url)
	if err != nil {
		return err
	}
	defer b.Close()
	l, ok := b.(backend.NamespaceLister)
	if !ok {
		return backend.Unsupported("listing namespaces")
	}
	names, err := l.Namespaces(ctx)
	if err != nil {
		return err
	}
	for _, ns := range names {
		if s.json {
			var j namespaceJSON
			j.Namespace, j.NamespaceBase64 = text([]byte(ns))
			err = writeJSON(env.Stdout, j)
		} else {
			_, err = fmt.Fprintln(env.Stdout, plain(ns))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// serverFlags defines the flags of storeFlags that do not name a namespace:
// --redis and --json, with the same defaults and help.
func serverFlags(fs *flag.FlagSet) *store {
	all := flag.NewFlagSet("", flag.ContinueOnError)
	s := storeFlags(all)
	for _, name := range []string{"redis", "json"} {
		f := all.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
		fs.Lookup(name).DefValue = f.DefValue
	}
	return s
}

// plain returns s as it is when a shell word can hold it, and Go-quoted otherwise.
func plain(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' || r == '\'' || r == '\\' {
			return strconv.Quote(s)
		}
	}
	return s
}

// used returns an error when st, just read, shows a namespace that holds nothing:
// all counters zero (so no task was ever enqueued, and no queue seen) and no task
// counted, and, where the store can list its namespaces, not among them (so it
// holds no answer, job record or limiter state either).
func (s *store) used(ctx context.Context, c *keyq.Client, st keyq.Stats) error {
	if st.Counters != (keyq.Counters{}) {
		return nil
	}
	for _, q := range st.Queues {
		if q != (keyq.QueueStats{}) {
			return nil
		}
	}
	what := "queues or counters"
	if l, ok := c.Backend().(backend.NamespaceLister); ok {
		names, err := l.Namespaces(ctx)
		if err != nil {
			return fmt.Errorf("namespace %s has no queues or counters; looking for its answers: %w", strconv.Quote(s.ns), err)
		}
		for _, ns := range names {
			if ns == s.ns {
				return nil
			}
		}
		what = "queues, counters or answers"
	}
	return &emptyNamespace{s.ns, what}
}

// emptyNamespace is the error of keyq stats on a namespace that holds nothing.
// It matches keyq.ErrNotFound.
type emptyNamespace struct{ ns, what string }

func (e *emptyNamespace) Error() string {
	return fmt.Sprintf("namespace %s has no %s (keyq namespaces lists those the store holds)", strconv.Quote(e.ns), e.what)
}

func (e *emptyNamespace) Unwrap() error { return keyq.ErrNotFound }
