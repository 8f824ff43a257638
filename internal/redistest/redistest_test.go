package redistest

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Ping(ctx, s.Addr); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	s.Kill()
	if err := Ping(ctx, s.Addr); err == nil {
		t.Fatal("killed server still answers PING")
	}
	s.Restart(t)
	if err := Ping(ctx, s.Addr); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
}

func TestPauseResume(t *testing.T) {
	s := Start(t, "--requirepass", "pw")
	s.Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := ping(ctx, s.Addr); err == nil {
		t.Fatal("a paused server answered")
	}
	s.Resume(t)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if line, err := ping(ctx, s.Addr); err != nil || !strings.HasPrefix(line, "-NOAUTH") {
		t.Fatalf("resumed server with a password: %q, %v; want NOAUTH", line, err)
	}
}

func TestStartTLSAndSentinel(t *testing.T) {
	certs := NewCerts(t)
	s := StartTLS(t, certs)
	conn, err := tls.Dial("tcp", s.TLSAddr, &tls.Config{RootCAs: certs.Pool})
	if err != nil {
		t.Fatalf("TLS port with the CA: %v", err)
	}
	conn.Close()
	sen := StartSentinel(t, "m", s.Addr, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Ping(ctx, sen.Addr); err != nil {
		t.Fatalf("sentinel: %v", err)
	}
}

// TestStartOnTakenPort: a server started on a port another server holds must
// not pass for started because the other one answers (that server's test would
// later stop it, and this test's server would vanish).
func TestStartOnTakenPort(t *testing.T) {
	first := Start(t)
	second := &Server{Addr: first.Addr, bin: first.bin, args: first.args}
	err := second.start()
	second.Kill()
	if err == nil {
		t.Fatalf("a second server on %s was reported started", first.Addr)
	}
	t.Logf("second server on a taken port: %v", err)
}

// TestHas: the server knows its own commands and not a made-up one.
func TestHas(t *testing.T) {
	s := Start(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	if !Has(t, c, "get") {
		t.Error("GET is unknown")
	}
	if Has(t, c, "keyq-no-such-command") {
		t.Error("a made-up command is known")
	}
}

// TestLastWarning: a server that exits after opening its log file is reported
// by its last warning, not the memory overcommit notice every start logs.
func TestLastWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "redis.log")
	log := "1:C 30 Nov 2026 17:02:30.265 # WARNING Memory overcommit must be enabled!\n" +
		"1:M 30 Nov 2026 17:02:30.270 # Missing implement of connection type tls\n" +
		"1:M 30 Nov 2026 17:02:30.270 # Failed finding TLS support.\n" +
		"1:M 30 Nov 2026 17:02:30.271 * Running mode=standalone, port=7790.\n"
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := lastWarning(path), "Failed finding TLS support."; got != want {
		t.Errorf("lastWarning = %q, want %q", got, want)
	}
	if got := lastWarning(filepath.Join(t.TempDir(), "none.log")); got != "" {
		t.Errorf("lastWarning of no file = %q, want none", got)
	}
}
