package redistest

import (
	"context"
	"testing"
	"time"
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
