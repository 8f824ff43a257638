package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errUsage marks a command line that is wrong; the error and the usage have been
// printed on stderr.
var errUsage = errors.New("usage")

// flagSet is the flags of one command, with its usage text.
type flagSet struct {
	*flag.FlagSet
	env       *Env
	usageLine string // "keyq dead list|requeue|purge [flags] [task ID...]"
	doc       string
}

// newFlags returns the flag set of a command, whose usage is the usage line, the
// description doc and the flags.
func newFlags(env *Env, usageLine, doc string) *flagSet {
	fs := &flagSet{
		FlagSet:   flag.NewFlagSet(strings.Fields(usageLine)[1], flag.ContinueOnError),
		env:       env,
		usageLine: usageLine,
		doc:       strings.TrimSpace(doc),
	}
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fs.printUsage(fs.Output()) }
	return fs
}

func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", fs.usageLine, fs.doc)
	var n int
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
}

// parse parses the command line args of a command and returns its positional
// arguments, in order. Flags may come before, between or after them, as in
// "keyq enqueue x1 x2 --queue q"; "--" ends the flags, so every argument after it
// is positional even when it starts with "-" ("keyq enqueue -- --json" queues the
// payload "--json"). A lone "-" is positional.
//
// -h or --help prints the usage on stdout and returns flag.ErrHelp. A bad flag
// prints the error and the usage on stderr and returns errUsage.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-':
			positional = append(positional, a)
		default:
			flags = append(flags, a)
			if fs.takesValue(a) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	// flags holds only flags and their values, so Parse reads all of it. What it
	// prints goes to stdout for --help, to stderr for an error.
	var msg bytes.Buffer
	fs.SetOutput(&msg)
	err := fs.FlagSet.Parse(flags)
	fs.SetOutput(fs.env.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.printUsage(fs.env.Stdout)
		return nil, err
	case err != nil:
		fs.env.Stderr.Write(msg.Bytes())
		return nil, errUsage
	}
	return positional, nil
}

// takesValue reports whether the flag argument a ("-name" or "--name") needs the
// next argument as its value, as the flag package would read it: a defined flag
// that is not boolean, written without "=value". An undefined or malformed flag
// takes nothing; Parse reports it.
func (fs *flagSet) takesValue(a string) bool {
	name := strings.TrimPrefix(a[1:], "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// isSet reports whether the command line set the flag name.
func (fs *flagSet) isSet(name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// badUsage prints the message and the usage on stderr, and returns errUsage.
func (fs *flagSet) badUsage(format string, args ...any) error {
	fmt.Fprintf(fs.env.Stderr, "keyq %s: "+format+"\n", append([]any{fs.Name()}, args...)...)
	fs.printUsage(fs.env.Stderr)
	return errUsage
}
