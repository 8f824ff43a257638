package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
)

// marker is the password of every URL of the secret tests: it must never show.
const marker = "Mark3rPW"

// secretArgs gives, for each command, the arguments that make it open the store
// at url. Every command of keyq must be here, so that the secret test covers it.
var secretArgs = map[string][]func(url string) []string{
	"bench": {func(url string) []string {
		return []string{"bench", "--backends", "redis", "--redis", url, "--tasks", "1", "--samples", "1"}
	}},
	"namespaces": {storeCmd("namespaces")},
	"schedules":  {storeCmd("schedules")},
	"delayed":    {storeCmd("delayed")},
	"pause":      {storeCmd("pause", "q")},
	"resume":     {storeCmd("resume", "q")},
	"cancel":     {storeCmd("cancel", "1")},
	"delete":     {storeCmd("delete", "1")},
	"stats":      {storeCmd("stats")},
	"peek":       {storeCmd("peek")},
	"leases":     {storeCmd("leases")},
	"job":        {storeCmd("job", "1")},
	"dead":       {storeCmd("dead", "list"), storeCmd("dead", "requeue", "--all"), storeCmd("dead", "purge", "1")},
	"enqueue":    {storeCmd("enqueue", "x")},
	"answer":     {storeCmd("answer", "get", "k"), storeCmd("answer", "delete", "k")},
	// web opens the store before it listens: a store it cannot open ends it.
	"web": {storeCmd("web", "--addr", "127.0.0.1:0")},
}

// storeCmd returns the arguments of an inspection command, --redis url after its name
// and action, then rest.
func storeCmd(name string, rest ...string) func(url string) []string {
	return func(url string) []string {
		args := []string{name}
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") && (name == "dead" || name == "answer") {
			args, rest = append(args, rest[0]), rest[1:]
		}
		return append(append(args, "--redis", url), rest...)
	}
}

// TestNoSecretPrinted (S8.5) runs every command against every way opening a store can
// fail, with a URL whose password is marker, and checks that marker shows neither
// on the command's stdout and stderr nor on the process's own stderr (file
// descriptor 2, where go-redis logs by default), and that go-redis wrote no log
// line there.
func TestNoSecretPrinted(t *testing.T) {
	for _, c := range commands {
		if _, ok := secretArgs[c.name]; !ok {
			t.Errorf("command %q is missing from secretArgs: add a way to run it to the secret test", c.name)
		}
	}
	srv := redistest.Start(t, "--requirepass", "right-"+marker)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	modes := []struct {
		name, url string
		wait      time.Duration // the context of the command
	}{
		{"malformed URL", "redis://:" + marker + "@127.0.0.1:abc", 10 * time.Second},
		{"bad db", "redis://:" + marker + "@" + srv.Addr + "/abc", 10 * time.Second},
		{"bad escape", "redis://:" + marker + "%zz@" + srv.Addr, 10 * time.Second},
		{"wrong password", "redis://:" + marker + "@" + srv.Addr, 10 * time.Second},
		{"wrong user", "redis://alice:" + marker + "@" + srv.Addr, 10 * time.Second},
		{"refused port", "redis://:" + marker + "@" + closed, 10 * time.Second},
		// A plain server waits for the end of the TLS hello: the command ends
		// with its context.
		{"rediss to a plain port", "rediss://:" + marker + "@" + srv.Addr, 500 * time.Millisecond},
	}
	// The commands run side by side, a few at a time: most of them wait for a
	// server to refuse them, and one capture of the process's stderr covers all.
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8)
	fd2 := captureStderr(t, func() {
		defer wg.Wait()
		for _, m := range modes {
			for _, c := range commands {
				for _, args := range secretArgs[c.name] {
					args := args(m.url)
					wg.Add(1)
					slots <- struct{}{}
					go func() {
						defer func() { <-slots; wg.Done() }()
						runSecret(t, m.name, c.name, m.wait, args)
					}()
				}
			}
		}
	})
	if strings.Contains(fd2, marker) {
		t.Errorf("the password reached the process's stderr:\n%s", fd2)
	}
	if strings.Contains(fd2, "redis: ") {
		t.Errorf("go-redis logged on the process's stderr:\n%s", fd2)
	}
}

// runSecret runs one command of the secret test and checks that it failed without
// printing the password.
func runSecret(t *testing.T, mode, name string, wait time.Duration, args []string) {
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	code := run(ctx, args, &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Open: OpenRedis})
	cancel()
	if code == 0 {
		t.Errorf("%s: keyq %s succeeded", mode, strings.Join(args[:2], " "))
	}
	if strings.Contains(out.String()+errOut.String(), marker) {
		t.Errorf("%s: keyq %s printed the password:\nstdout: %s\nstderr: %s",
			mode, strings.Join(args[:2], " "), out.String(), errOut.String())
	}
	if name == "stats" {
		t.Logf("%s: %s", mode, strings.TrimSpace(errOut.String()))
	}
}

// TestHelpHidesDefaultURL: --help names the variable that sets the default store,
// never its value.
func TestHelpHidesDefaultURL(t *testing.T) {
	t.Setenv(redisURLEnv, "redis://:"+marker+"@127.0.0.1:1")
	for _, args := range [][]string{{"help"}, {"--help"}} {
		checkHelp(t, args)
	}
	for _, c := range commands {
		checkHelp(t, []string{c.name, "--help"})
		checkHelp(t, []string{"help", c.name})
	}
}

func checkHelp(t *testing.T, args []string) {
	t.Helper()
	var out, errOut bytes.Buffer
	never := func(context.Context, string) (backend.Backend, error) {
		t.Errorf("keyq %s opened the store", strings.Join(args, " "))
		return nil, errors.New("no")
	}
	run(context.Background(), args, &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Open: never})
	text := out.String() + errOut.String()
	if strings.Contains(text, marker) {
		t.Errorf("keyq %s printed the password of $%s:\n%s", strings.Join(args, " "), redisURLEnv, text)
	}
	if strings.Contains(text, "-redis") && !strings.Contains(text, "$"+redisURLEnv) {
		t.Errorf("keyq %s describes --redis without naming $%s:\n%s", strings.Join(args, " "), redisURLEnv, text)
	}
}

// TestOpenForms: the commands reach a server over TLS with the CA of the URL's
// tls_ca_file, refuse one whose certificate they cannot verify, and reach a master
// through Sentinel.
func TestOpenForms(t *testing.T) {
	certs := redistest.NewCerts(t)
	srv := redistest.StartTLS(t, certs, "--requirepass", marker)
	sentinel := redistest.StartSentinel(t, "mymaster", srv.Addr, marker)
	for _, c := range []struct {
		name, url string
		code      int
		err       string
	}{
		{"TLS with the CA", "rediss://:" + marker + "@" + srv.TLSAddr + "?tls_ca_file=" + certs.CAFile, 0, ""},
		{"TLS, asked not to verify", "rediss://:" + marker + "@" + srv.TLSAddr + "?skip_verify=true", 0, ""},
		{"TLS with the host's roots", "rediss://:" + marker + "@" + srv.TLSAddr, 1, "certificate signed by unknown authority"},
		{"TLS with a CA file that is missing", "rediss://:" + marker + "@" + srv.TLSAddr + "?tls_ca_file=" + certs.CAFile + ".x", 1, "no such file"},
		{"Sentinel", "redis+sentinel://:" + marker + "@" + sentinel.Addr + "?master=mymaster", 0, ""},
	} {
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		code := run(ctx, []string{"namespaces", "--redis", c.url},
			&Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Open: OpenRedis})
		cancel()
		if code != c.code || !strings.Contains(errOut.String(), c.err) {
			t.Errorf("%s: keyq namespaces: exit %d, stderr %q; want exit %d and %q", c.name, code, errOut.String(), c.code, c.err)
		}
		if strings.Contains(out.String()+errOut.String(), marker) {
			t.Errorf("%s: keyq namespaces printed the password:\n%s%s", c.name, out.String(), errOut.String())
		}
	}
}
