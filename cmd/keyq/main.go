// Command keyq benchmarks keyq's backends and inspects a keyq store on Redis.
//
// Usage:
//
//	keyq <command> [flags]
//
// The commands are bench, stats, peek, dead, enqueue and answer; "keyq help
// <command>" or "keyq <command> --help" describes each.
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
