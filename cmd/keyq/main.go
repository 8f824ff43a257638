// Command keyq benchmarks keyq's backends, and inspects and controls a keyq store
// on Redis.
//
// Usage:
//
//	keyq <command> [flags] [arguments]
//
// The commands are:
//
//	bench       run the benchmark workloads on each backend
//	stats       count tasks per queue and show the namespace's counters
//	peek        show waiting tasks of a queue without taking them
//	leases      show the tasks leased now, earliest deadline first
//	job         show the job record of a task
//	dead        list, requeue or purge dead-lettered tasks
//	enqueue     enqueue tasks given as arguments or as lines on stdin
//	answer      get or delete the stored answer of a task key
//	namespaces  list the namespaces the store holds
//	schedules   list the periodic tasks of a namespace: last and next run
//	delayed     show delayed tasks not yet due, earliest first
//	pause       stop deliveries from queues; enqueues go on
//	resume      start deliveries from paused queues again
//	cancel      end a task by ID: remove it, or stop it while it runs
//	delete      remove a waiting or delayed task by ID
//	web         serve a dashboard of the store over HTTP
//
// "keyq help <command>" or "keyq <command> --help" describes each, on stdout.
//
// Flags may come before, between or after the arguments, as in
// "keyq enqueue x1 x2 --queue jobs"; "--" ends the flags, so that
// "keyq enqueue -- --json" queues the payload "--json". With --json the commands
// print one JSON object a line; bytes that are not UTF-8 (keys, payloads,
// namespaces) appear in base64 under a name ending in _base64, and a time not set
// is null.
//
// The exit status is 0 on success, 1 when the command failed (the store cannot be
// reached; an answer, job record, task or namespace is not there; a task to
// delete is running; the backend does not support the command, as a driver
// without inspection), and 2 on bad usage:
// an unknown command or flag, or a missing or malformed argument, found before
// the store is opened.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Open: OpenRedis, Terminal: isTerminal(os.Stderr),
	})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a character device, such as a terminal.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
