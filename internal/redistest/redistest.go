// Package redistest starts real redis-server processes for tests.
//
// Tests that need a real server call URL (any server will do) or Start (a server
// the test owns and may kill and restart). Without redis-server on PATH they skip
// with a message saying how to install it, except when the environment variable CI
// is set: there a missing server fails the test, so a CI run cannot pass by skipping.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvURL names the environment variable that points the tests at an existing server,
// as a redis:// URL. Tests then use it instead of starting their own.
const EnvURL = "KEYQ_REDIS_URL"

// Server is a redis-server process started for a test.
type Server struct {
	Addr    string // host:port on loopback
	TLSAddr string // host:port of the TLS port, for a server from StartTLS
	Log     string // the path of its log file
	bin     string
	args    []string
	cmd     *exec.Cmd
	done    chan struct{}
}

// binary returns the path of redis-server, or skips or fails t.
func binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err == nil {
		return bin
	}
	msg := "redis-server is not on PATH: install it (Debian: apt-get install -y redis-server) or set " + EnvURL
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI must run the real-server tests")
	}
	t.Skip(msg + "; skipping the real-server tests")
	return ""
}

// URL returns the address of a real server as a redis:// URL: the one in
// KEYQ_REDIS_URL, or a server started for t and stopped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return "redis://" + Start(t).Addr
}

// Start runs a redis-server on a free loopback port, with a data directory of its
// own and extra arguments such as "--appendonly", "yes". It is killed when t ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := tryStart(t, args...)
	if err != nil {
		t.Fatalf("redistest: redis-server did not start: %v", err)
	}
	return s
}

// tryStart is Start that returns why the server did not start.
func tryStart(t testing.TB, args ...string) (*Server, error) {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		s := &Server{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Log:  filepath.Join(dir, "redis.log"),
			bin:  bin,
			args: append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--dir", dir, "--save", "", "--protected-mode", "no", "--daemonize", "no",
				"--logfile", "redis.log"}, args...),
		}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Kill)
			return s, nil
		}
		if strings.Contains(lastErr.Error(), "CONFIG") {
			break // another port will not help
		}
	}
	return nil, lastErr
}

func (s *Server) start() error {
	s.cmd = exec.Command(s.bin, s.args...)
	// A server refuses bad arguments on stderr, before it opens its log file;
	// the buffer is read only once the process has exited (s.done).
	var stderr bytes.Buffer
	s.cmd.Stderr = &stderr
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		// The port was free when chosen, but another test's server may have
		// taken it since: then that one answers and this one exits. Only the
		// process ID in INFO tells the two apart.
		if pid, loading, err := processID(ctx, s.Addr, s.password()); err == nil {
			if pid != s.cmd.Process.Pid {
				s.Kill()
				return fmt.Errorf("another server (pid %d) answers on %s", pid, s.Addr)
			}
			if !loading {
				return nil
			}
		}
		select {
		case <-s.done:
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				return fmt.Errorf("%s exited at start: %s", s.bin, strings.Join(strings.Fields(msg), " "))
			}
			if msg := lastWarning(s.Log); msg != "" {
				return fmt.Errorf("%s exited at start; its log: %s", s.bin, msg)
			}
			return fmt.Errorf("%s exited at start (port taken?)", s.bin)
		case <-ctx.Done():
			s.Kill()
			return fmt.Errorf("redis-server on %s does not answer PING", s.Addr)
		case <-time.After(5 * time.Millisecond): // poll interval of a start-up probe
		}
	}
}

// lastWarning returns the last warning line (marked " # ") of the log file at
// path, or "": a server that fails after opening its log says why there, as a
// build without TLS does when given a TLS port ("Failed finding TLS support").
func lastWarning(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, msg, ok := strings.Cut(lines[i], " # "); ok && !strings.Contains(msg, "overcommit") {
			return strings.TrimSpace(msg)
		}
	}
	return ""
}

// password returns the value of the --requirepass argument, or "".
func (s *Server) password() string {
	for i, a := range s.args {
		if a == "--requirepass" && i+1 < len(s.args) {
			return s.args[i+1]
		}
	}
	return ""
}

// processID asks the server at addr for its process ID (INFO), logging in with
// password first unless it is empty, and whether it is still loading its data
// (a restarted server with an append-only file).
func processID(ctx context.Context, addr, password string) (pid int, loading bool, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	if password != "" {
		if err := writeCommand(conn, "AUTH", password); err != nil {
			return 0, false, err
		}
		if _, err := readReply(r, "AUTH"); err != nil {
			return 0, false, err
		}
	}
	// Plain INFO: every server version takes it, and a server's default
	// sections hold both fields (a sentinel's have no loading field).
	if err := writeCommand(conn, "INFO"); err != nil {
		return 0, false, err
	}
	info, err := readReply(r, "INFO")
	if err != nil {
		return 0, false, err
	}
	pid = -1
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			if pid, err = strconv.Atoi(v); err != nil {
				return 0, false, fmt.Errorf("INFO of %s: process_id %q", addr, v)
			}
		}
		if v, ok := strings.CutPrefix(line, "loading:"); ok {
			loading = v != "0"
		}
	}
	if pid < 0 {
		return 0, false, fmt.Errorf("INFO of %s has no process_id", addr)
	}
	return pid, loading, nil
}

// LogTail returns the last n lines of the server's log file, or why it has
// none: what a test that failed in a failover shows of the servers' view.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.Log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Kill stops the server at once with SIGKILL, as a crash would, and waits for it to
// exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Restart kills the server and starts it again on the same port with the same data
// directory and arguments, so a server with "--appendonly yes" keeps its data.
// Extra arguments are added to them, for this start and every later one.
func (s *Server) Restart(t testing.TB, extra ...string) {
	t.Helper()
	s.Kill()
	s.args = append(s.args, extra...)
	var err error
	for range 50 { // the port may linger for a moment after the kill
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redistest: restart on %s: %v", s.Addr, err)
}

// Ping sends PING to addr and waits for PONG.
func Ping(ctx context.Context, addr string) error {
	line, err := ping(ctx, addr)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// ping sends PING to addr and returns the line of the reply.
func ping(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(conn).ReadString('\n')
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Pause stops the server process with SIGSTOP: it keeps its connections and
// accepts new ones (the kernel does), but answers nothing, as a hung server would,
// until Resume. A paused server is still killed when the test ends.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("redistest: pause %s: %v", s.Addr, err)
	}
	// The signal takes effect on each thread when it next runs: a server with
	// threads of its own (KeyDB) went on for a moment, acknowledged a write to
	// its master, and a test of a stopped replica saw it confirmed. Wait until
	// every thread is stopped.
	deadline := time.Now().Add(10 * time.Second)
	for !stopped(s.cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s not stopped 10s after SIGSTOP", s.Addr)
		}
		time.Sleep(time.Millisecond) // poll interval of the stop check
	}
}

// stopped reports whether every thread of process pid is stopped, from
// /proc; where there is no /proc it reports true: the signal is all there is.
func stopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return true
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread has exited
		}
		// "pid (comm) S ...": the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// Resume lets a paused server run again.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("redistest: resume %s: %v", s.Addr, err)
	}
}
