package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend"
)

// Env is what a command works with: its streams and the way to open the store.
// Tests fill it with buffers and a memory backend.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Open opens the backend at a redis:// URL. The command closes it when done.
	Open Opener
	// Terminal is true when Stderr is a terminal: bench then draws progress there.
	Terminal bool
}

// Opener opens the backend of a store given by URL.
type Opener func(ctx context.Context, url string) (backend.Backend, error)

// A command runs with its arguments, after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env *Env) error
}

var commands []command

func init() {
	commands = []command{
		{"bench", "run the benchmark workloads on each backend", cmdBench},
		{"stats", "count tasks per queue and show the namespace's counters", cmdStats},
		{"peek", "show waiting tasks of a queue without taking them", cmdPeek},
		{"leases", "show the tasks leased now, earliest deadline first", cmdLeases},
		{"job", "show the job record of a task", cmdJob},
		{"dead", "list, requeue or purge dead-lettered tasks", cmdDead},
		{"enqueue", "enqueue tasks given as arguments or as lines on stdin", cmdEnqueue},
		{"answer", "get or delete the stored answer of a task key", cmdAnswer},
		{"namespaces", "list the namespaces the store holds", cmdNamespaces},
	}
}

// run runs the command line args and returns the exit code: 0 on success and for
// help, 1 when the command failed, 2 on bad usage (an unknown command, a bad flag,
// a missing or malformed argument), which is found before the store is opened.
// Help goes to stdout; usage errors and failures go to stderr.
func run(ctx context.Context, args []string, env *Env) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return 2
	}
	name, args := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) == 0 {
			usage(env.Stdout)
			return 0
		}
		name, args = args[0], []string{"--help"}
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args, env)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(env.Stderr, "keyq %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(env.Stderr, "keyq: unknown command %q\nRun 'keyq help' for usage.\n", name)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, "keyq benchmarks keyq's backends and inspects a keyq store on Redis.\n\nUsage:\n\n\tkeyq <command> [flags] [arguments]\n\nThe commands are:\n\n")
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Flags may come before or after the arguments; "--" ends the flags.
Use "keyq help <command>" or "keyq <command> --help" for more about a command.

Exit status: 0 on success, 1 when the command failed (the store cannot be
reached, a key, job or namespace is not found), 2 on bad usage.
`)
}

// defaultRedisURL is the store the inspection commands open without --redis.
func defaultRedisURL() string {
	if u := os.Getenv("KEYQ_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// OpenRedis opens the Redis backend on the server at url, after checking that the
// server answers. Closing the backend closes its client.
func OpenRedis(ctx context.Context, url string) (backend.Backend, error) {
	b, err := redisbackend.OpenURL(ctx, url, redisbackend.Options{})
	switch {
	case errors.Is(err, backend.ErrInvalid):
		return nil, fmt.Errorf("redis URL %q: %w", url, err)
	case err != nil:
		return nil, fmt.Errorf("cannot reach %w", err) // "cannot reach redis at host:port: ..."
	}
	return b, nil
}
