package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartReplica runs a redis-server, as Start does, that replicates master, and
// waits until its link to the master is up, the first sync is done and the
// master counts it online. Extra
// arguments go to the server as in Start.
func StartReplica(t testing.TB, master *Server, args ...string) *Server {
	t.Helper()
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		t.Fatalf("redistest: master address %q: %v", master.Addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The master would wait 5s for more replicas before a diskless full sync.
	if _, err := Command(ctx, master.Addr, "CONFIG", "SET", "repl-diskless-sync-delay", "0"); err != nil {
		t.Fatalf("redistest: master %s: %v", master.Addr, err)
	}
	s := Start(t, append([]string{"--replicaof", host, port}, args...)...)
	_, rport, _ := net.SplitHostPort(s.Addr)
	for { // up on both ends: the master counts the replica (WAIT) once online
		info, err := Command(ctx, s.Addr, "INFO", "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			info, err = Command(ctx, master.Addr, "INFO", "replication")
			if err == nil && strings.Contains(info, "port="+rport+",state=online") {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: the replica %s did not sync with %s within 30s (last INFO: %q, %v)", s.Addr, master.Addr, info, err)
		case <-time.After(10 * time.Millisecond): // poll interval of the link check
		}
	}
	// After a full sync the master streams writes only once the replica has
	// acknowledged (up to a second later): wait until a write gets through.
	key := "redistest:replica:" + rport
	for _, step := range [][]string{{"SET", key, "1"}, {"DEL", key}} {
		if _, err := Command(ctx, master.Addr, step...); err != nil {
			t.Fatalf("redistest: master %s: %v", master.Addr, err)
		}
		want := "1"
		if step[0] == "DEL" {
			want = "0"
		}
		for {
			v, err := Command(ctx, s.Addr, "EXISTS", key)
			if err == nil && v == want {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("redistest: the replica %s did not receive a write within 30s: %q, %v", s.Addr, v, err)
			case <-time.After(10 * time.Millisecond): // poll interval of the write check
			}
		}
	}
	return s
}

// Command sends one command to the server at addr and returns its reply, for
// replies that are a simple string, an integer or a bulk string. An error reply
// is an error.
func Command(ctx context.Context, addr string, args ...string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := writeCommand(conn, args...); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn), args[0])
}

// writeCommand writes one command to w in the protocol's array form.
func writeCommand(w io.Writer, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// readReply reads one reply of the command named name: a simple string, an
// integer or a bulk string. An error reply is an error.
func readReply(r *bufio.Reader, name string) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("%s: %s", name, line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s: bulk reply %q", name, line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case strings.HasPrefix(line, "+"), strings.HasPrefix(line, ":"):
		return line[1:], nil
	}
	return "", fmt.Errorf("%s: unexpected reply %q", name, line)
}
