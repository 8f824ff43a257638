package redisbackend_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/redisbackend"
	"github.com/redis/go-redis/v9"
)

func TestOpenURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := redisbackend.OpenURL(ctx, redistest.URL(t), redisbackend.Options{Prefix: "openurl-test"})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, b)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	if _, err := redisbackend.OpenURL(ctx, "not a url", redisbackend.Options{}); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("bad URL: %v, want ErrInvalid", err)
	}
	if _, err := redisbackend.OpenURL(ctx, "redis://"+closedPort(t), redisbackend.Options{}); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("refused connection: %v, want ErrUnavailable", err)
	}
}

// roundTrip enqueues and takes a task through b.
func roundTrip(t *testing.T, b backend.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := b.Namespace("ns-" + strings.ReplaceAll(t.Name(), "/", "-"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{{Key: "x", Payload: []byte("x"), MaxAttempts: 1}}}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	res, err := q.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute})
	if err != nil || len(res.Leases) != 1 || string(res.Leases[0].Payload) != "x" {
		t.Fatalf("Dequeue = %+v, %v", res, err)
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestOpenURLSecrets: no error of OpenURL holds the password of its URL, whatever
// goes wrong, and each is of the kind that says what went wrong.
func TestOpenURLSecrets(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "right-"+marker)
	closed := closedPort(t)
	for _, c := range []struct {
		name, url string
		want      error         // nil: any error
		wait      time.Duration // how long the case may take; 10s if zero
	}{
		{"malformed port", "redis://:" + marker + "@127.0.0.1:abc", backend.ErrInvalid, 0},
		{"bad db", "redis://:" + marker + "@" + srv.Addr + "/abc", backend.ErrInvalid, 0},
		{"bad db query", "redis://:" + marker + "@" + srv.Addr + "?db=x", backend.ErrInvalid, 0},
		{"unknown option", "redis://:" + marker + "@" + srv.Addr + "?frob=1", backend.ErrInvalid, 0},
		{"bad escape in the password", "redis://:" + marker + "%zz@" + srv.Addr, backend.ErrInvalid, 0},
		{"slash in the password", "redis://:" + marker[:4] + "/" + marker[4:] + "@" + srv.Addr + "/0", backend.ErrInvalid, 0},
		{"no scheme", ":" + marker + "@" + srv.Addr, backend.ErrInvalid, 0},
		{"unknown scheme", "http://:" + marker + "@" + srv.Addr, backend.ErrInvalid, 0},
		{"skip_verify without TLS", "redis://:" + marker + "@" + srv.Addr + "?skip_verify=true", backend.ErrInvalid, 0},
		{"context timeout off", "redis://:" + marker + "@" + srv.Addr + "?context_timeout_enabled=false", backend.ErrInvalid, 0},
		{"cluster with a db", "redis+cluster://:" + marker + "@" + srv.Addr + "/1", backend.ErrInvalid, 0},
		{"cluster bad host", "redis+cluster://:" + marker + "@" + srv.Addr + ",:x", backend.ErrInvalid, 0},
		{"sentinel without master", "redis+sentinel://:" + marker + "@" + srv.Addr, backend.ErrInvalid, 0},
		{"sentinel password in query", "redis+sentinel://" + srv.Addr + "?master=m&password=" + marker, backend.ErrInvalid, 0},
		{"sentinel routing", "redis+sentinel://:" + marker + "@" + srv.Addr + "?master=m&route_randomly=true", backend.ErrInvalid, 0},
		{"wrong password", "redis://:" + marker + "@" + srv.Addr, nil, 0},
		{"wrong user", "redis://bob:" + marker + "@" + srv.Addr, nil, 0},
		{"refused port", "redis://:" + marker + "@" + closed, backend.ErrUnavailable, 0},
		// These two wait for their context: a plain server waits for the end of
		// the TLS hello, and a Sentinel client keeps trying.
		{"rediss to a plain port", "rediss://:" + marker + "@" + srv.Addr, nil, time.Second},
		{"sentinel refused", "redis+sentinel://:" + marker + "@" + closed + "?master=m&sentinel_password=" + marker, nil, time.Second},
		{"cluster refused", "redis+cluster://:" + marker + "@" + closed, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			wait := 10 * time.Second
			if c.wait > 0 {
				wait = c.wait
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			b, err := redisbackend.OpenURL(ctx, c.url, redisbackend.Options{})
			if err == nil {
				b.Close()
				t.Fatalf("OpenURL(%s) = nil error", redisbackend.RedactURL(c.url))
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("OpenURL(%s): %v, want %v", redisbackend.RedactURL(c.url), err, c.want)
			}
			for _, text := range []string{err.Error(), fmtAll(err)} {
				if strings.Contains(text, marker) || strings.Contains(text, marker[:4]) {
					t.Fatalf("OpenURL(%s): error holds the password: %s", redisbackend.RedactURL(c.url), text)
				}
			}
			t.Logf("%v", err)
		})
	}
}

// fmtAll joins the texts of every error in err's tree.
func fmtAll(err error) string {
	var b strings.Builder
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		b.WriteString(err.Error() + "\n")
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range e.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return b.String()
}

// TestOpenURLSilentServer: a backend from OpenURL ends a call by its context's
// deadline when the server stops answering, not after go-redis's read timeout
// (5 s) (S7.1).
func TestOpenURLSilentServer(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := redisbackend.OpenURL(ctx, "redis://"+srv.Addr, redisbackend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ns, err := b.Namespace("silent")
	if err != nil {
		t.Fatal(err)
	}
	q := ns.(backend.Inspector)
	if _, err := q.Stats(ctx, backend.StatsParams{}); err != nil {
		t.Fatalf("Stats before the pause: %v", err)
	}
	srv.Pause(t)
	defer srv.Resume(t)
	for _, call := range []struct {
		name string
		fn   func() error
	}{
		{"Stats", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := q.Stats(ctx, backend.StatsParams{})
			return err
		}},
		{"Enqueue", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := ns.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{{Key: "x", Payload: []byte("x"), MaxAttempts: 1}}})
			return err
		}},
		{"OpenURL", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			b, err := redisbackend.OpenURL(ctx, "redis://"+srv.Addr, redisbackend.Options{})
			if err == nil {
				b.Close()
			}
			return err
		}},
	} {
		start := time.Now()
		err := call.fn()
		d := time.Since(start)
		if !errors.Is(err, backend.ErrTimeout) {
			t.Errorf("%s on a silent server: %v, want ErrTimeout", call.name, err)
		}
		// go-redis's own read timeout is 5 s: far above 300 ms and this bound.
		if d > 2500*time.Millisecond {
			t.Errorf("%s on a silent server with a 300ms timeout took %v", call.name, d)
		}
		t.Logf("%s: %v after %v", call.name, err, d)
	}
}

func TestContextTimeoutEnabled(t *testing.T) {
	for _, c := range []struct {
		name          string
		client        redis.UniversalClient
		enabled, know bool
	}{
		{"client off", redis.NewClient(&redis.Options{}), false, true},
		{"client on", redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}), true, true},
		{"cluster on", redis.NewClusterClient(&redis.ClusterOptions{ContextTimeoutEnabled: true}), true, true},
		{"failover on", redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", ContextTimeoutEnabled: true}), true, true},
		{"failover off", redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m"}), false, true},
		{"other", struct{ redis.UniversalClient }{redis.NewClient(&redis.Options{})}, false, false},
	} {
		on, known := redisbackend.ContextTimeoutEnabled(c.client)
		if on != c.enabled || known != c.know {
			t.Errorf("%s: ContextTimeoutEnabled = %v, %v; want %v, %v", c.name, on, known, c.enabled, c.know)
		}
	}
	if _, err := redisbackend.New(redis.NewClient(&redis.Options{}), redisbackend.Options{TLSConfig: &tls.Config{}}); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("New with Options.TLSConfig: %v, want ErrInvalid", err)
	}
}

// TestOpenURLTLS: a rediss URL verifies the server's certificate, against
// Options.TLSConfig's CA when given, and never skips verification unless asked.
func TestOpenURLTLS(t *testing.T) {
	certs := redistest.NewCerts(t)
	srv := redistest.StartTLS(t, certs, "--requirepass", marker)
	url := "rediss://:" + marker + "@" + srv.TLSAddr
	open := func(url string, cfg *tls.Config) (*redisbackend.Backend, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return redisbackend.OpenURL(ctx, url, redisbackend.Options{TLSConfig: cfg})
	}
	works := func(name, url string, cfg *tls.Config) {
		t.Helper()
		b, err := open(url, cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer b.Close()
		roundTrip(t, b)
	}
	works("the right CA", url, &tls.Config{RootCAs: certs.Pool})
	works("the right CA, by host name", "rediss://:"+marker+"@localhost:"+port(srv.TLSAddr), &tls.Config{RootCAs: certs.Pool})
	works("skip_verify", url+"?skip_verify=true", nil)
	works("tls_ca_file", url+"?tls_ca_file="+certs.CAFile, nil)
	works("tls_ca_file over TLSConfig", url+"?tls_ca_file="+certs.CAFile, &tls.Config{RootCAs: x509.NewCertPool()})

	// A server that asks for a client certificate signed by its CA.
	mtls := redistest.StartTLS(t, certs, "--tls-auth-clients", "yes")
	murl := "rediss://" + mtls.TLSAddr
	clientCert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	works("a client certificate", murl, &tls.Config{RootCAs: certs.Pool, Certificates: []tls.Certificate{clientCert}})
	works("tls_cert_file and tls_key_file", murl+"?tls_ca_file="+certs.CAFile+
		"&tls_cert_file="+certs.ClientCert+"&tls_key_file="+certs.ClientKey, nil)
	if b, err := open(murl+"?tls_ca_file="+certs.CAFile, nil); err == nil {
		b.Close()
		t.Error("a server that asks for a client certificate let in a client without one")
	}
	for _, bad := range []string{
		url + "?tls_ca_file=" + certs.CAFile + ".missing",
		url + "?tls_ca_file=" + certs.ClientKey, // no certificate in it
		url + "?tls_cert_file=" + certs.ClientCert,
		"redis://:" + marker + "@" + srv.Addr + "?tls_ca_file=" + certs.CAFile,
	} {
		_, err := open(bad, nil)
		if !errors.Is(err, backend.ErrInvalid) || strings.Contains(fmtAll(err), marker) {
			t.Errorf("OpenURL(%s): %v, want ErrInvalid without the password", redisbackend.RedactURL(bad), err)
		}
		t.Logf("%v", err)
	}

	other := redistest.NewCerts(t)
	for _, c := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"the host's roots", nil},
		{"another CA", &tls.Config{RootCAs: other.Pool}},
	} {
		_, err := open(url, c.cfg)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("%s: %v, want x509.UnknownAuthorityError", c.name, err)
		}
		if err != nil && strings.Contains(fmtAll(err), marker) {
			t.Errorf("%s: error holds the password: %v", c.name, err)
		}
		t.Logf("%s: %v", c.name, err)
	}
	if _, err := open("rediss://:"+marker+"@server.invalid:"+port(srv.TLSAddr), &tls.Config{RootCAs: certs.Pool, ServerName: "other.example"}); err == nil {
		t.Error("a certificate for another name was accepted")
	}
	if _, err := open("redis://:"+marker+"@"+srv.Addr, &tls.Config{RootCAs: certs.Pool}); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("TLSConfig with a redis:// URL: %v, want ErrInvalid", err)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestOpenURLSentinel: a redis+sentinel URL reaches the master through Sentinel.
func TestOpenURLSentinel(t *testing.T) {
	master := redistest.Start(t, "--requirepass", marker)
	s1 := redistest.StartSentinel(t, "mymaster", master.Addr, marker)
	url := "redis+sentinel://:" + marker + "@" + closedPort(t) + "," + s1.Addr + "/0?master=mymaster"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := redisbackend.OpenURL(ctx, url, redisbackend.Options{})
	if err != nil {
		t.Fatalf("OpenURL(%s): %v", redisbackend.RedactURL(url), err)
	}
	roundTrip(t, b)
	b.Close()

	_, err = redisbackend.OpenURL(ctx, "redis+sentinel://:"+marker+"@"+s1.Addr+"?master=nosuch", redisbackend.Options{})
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "no sentinel knows") || strings.Contains(fmtAll(err), marker) {
		t.Fatalf("an unknown master: %v", err)
	}
	t.Logf("unknown master: %v", err)
}
