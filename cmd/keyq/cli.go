package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend"
	"github.com/redis/go-redis/v9"
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
		{"schedules", "list the periodic tasks of a namespace: last and next run", cmdSchedules},
		{"delayed", "show delayed tasks not yet due, earliest first", cmdDelayed},
		{"pause", "stop deliveries from queues; enqueues go on", cmdPause},
		{"resume", "start deliveries from paused queues again", cmdResume},
		{"cancel", "end a task by ID: remove it, or stop it while it runs", cmdCancel},
		{"delete", "remove a waiting or delayed task by ID", cmdDelete},
		{"web", "serve a dashboard of the store over HTTP", cmdWeb},
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
		case errors.Is(err, errors.ErrUnsupported):
			fmt.Fprintf(env.Stderr, "keyq %s: not supported by this backend: %v\n", name, err)
			return 1
		default:
			fmt.Fprintf(env.Stderr, "keyq %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(env.Stderr, "keyq: unknown command %q\nRun 'keyq help' for usage.\n", name)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, "keyq benchmarks keyq's backends, and inspects and controls a keyq store on Redis.\n\nUsage:\n\n\tkeyq <command> [flags] [arguments]\n\nThe commands are:\n\n")
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Flags may come before or after the arguments; "--" ends the flags.
Use "keyq help <command>" or "keyq <command> --help" for more about a command.

Exit status: 0 on success, 1 when the command failed (the store cannot be
reached, a key, job, task or namespace is not found, a task to delete is
running, the backend does not support the command), 2 on bad usage.
`)
}

// redisURLEnv names the environment variable that holds the default store's URL.
const redisURLEnv = "KEYQ_REDIS_URL"

// redisURLHelp describes the --redis flag. It names the variable and never
// prints its value, which may hold a password.
const redisURLHelp = "the Redis deployment, as a URL (default $" + redisURLEnv + ", or redis://127.0.0.1:6379):\n" +
	"redis://[[user]:password@]host:port[/db]          one server\n" +
	"rediss://...[?tls_ca_file=FILE]                   one server over TLS, with a private CA\n" +
	"redis+cluster://host1:port1,host2:port2,...       a cluster (rediss+cluster: over TLS)\n" +
	"redis+sentinel://host1:port1,...[/db]?master=name a master watched by Sentinel\n" +
	"See the doc of redisbackend.OpenURL for every option."

// defaultRedisURL is the store the commands open without --redis.
func defaultRedisURL() string {
	if u := os.Getenv(redisURLEnv); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// openTimeout bounds the opening of a store when the command's context does not:
// a server that never answers (a TLS hello sent to a plain port waits forever)
// ends the command with an error instead of hanging it.
const openTimeout = 10 * time.Second

// OpenRedis opens the Redis backend at url, the default store when url is empty,
// after checking that the deployment answers; url takes every form of
// redisbackend.OpenURL. Closing the backend closes its client. No error of
// OpenRedis holds a secret of url: the URL appears as redisbackend.RedactURL
// prints it.
func OpenRedis(ctx context.Context, url string) (backend.Backend, error) {
	if url == "" {
		url = defaultRedisURL()
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	b, err := redisbackend.OpenURL(ctx, url, redisbackend.Options{})
	switch {
	case errors.Is(err, backend.ErrInvalid):
		return nil, err // "invalid argument: redis URL redis://:xxxxx@host:port: ..."
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, backend.ErrTimeout):
		return nil, fmt.Errorf("cannot reach %w", err) // "cannot reach redis at host:port: ..."
	case err != nil:
		return nil, fmt.Errorf("cannot open %w", err) // "cannot open redis at host:port: WRONGPASS ..."
	}
	return b, nil
}

// quietRedis drops go-redis's log lines. go-redis logs connection trouble on
// stderr on its own ("redis: connection pool: failed to dial ..."), several lines
// a failure; a command reports each failure once, as its error.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedis{}) }
