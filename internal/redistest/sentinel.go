package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// StartSentinel runs a sentinel on a free loopback port that watches the
// master at masterAddr under the name master, with a quorum of one, and logs in
// to it with password unless that is empty. Each of conf is one more line of its
// configuration file, written after the monitor line, such as
// "sentinel down-after-milliseconds mymaster 500". It is killed when t ends.
//
// The sentinel is the redis-server on PATH run with --sentinel, so that it is
// the same server as the master: a KeyDB's keydb-sentinel, or any server whose
// sentinel is not named redis-sentinel, works alike. Without redis-server on
// PATH it skips t (fails under CI).
func StartSentinel(t testing.TB, master, masterAddr, password string, conf ...string) *Server {
	t.Helper()
	bin := binary(t)
	host, port, err := net.SplitHostPort(masterAddr)
	if err != nil {
		t.Fatalf("redistest: master address %q: %v", masterAddr, err)
	}
	dir := t.TempDir()
	var lastErr error
	for range 5 {
		p, err := freePort()
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		// Sentinel rewrites its configuration file, so each try gets its own.
		file := filepath.Join(dir, "sentinel-"+strconv.Itoa(p)+".conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nlogfile sentinel-%d.log\n"+
			"sentinel monitor %s %s %s 1\n", p, dir, p, master, host, port)
		if password != "" {
			text += fmt.Sprintf("sentinel auth-pass %s %s\n", master, password)
		}
		for _, line := range conf {
			text += line + "\n"
		}
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), bin: bin, args: []string{file, "--sentinel"},
			Log: filepath.Join(dir, "sentinel-"+strconv.Itoa(p)+".log")}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("redistest: sentinel did not start: %v", lastErr)
	return nil
}
