package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/memory"
	"github.com/keyq/keyq/redisbackend"
	"github.com/keyq/keyq/web"
)

// webTokenEnv names the environment variable that holds the default --token, so
// that the token need not show in the process list.
const webTokenEnv = "KEYQ_WEB_TOKEN"

func cmdWeb(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq web [flags]", `
Web serves a dashboard of the store: its namespaces; per namespace the waiting,
leased, delayed and dead tasks of each queue, whether it is paused, the counters
and their rates over the last minutes; the live leases with their deadlines; the
delayed tasks with their due times; a task's job record and payload; the dead
letters. Buttons pause and resume a queue, cancel a task, and requeue or purge
dead letters. It serves until interrupted.

It listens on 127.0.0.1:8080 by default, and without a token answers only to
a loopback host name. An address beyond loopback needs --token (or
$`+webTokenEnv+`): every request must then carry it, as
"Authorization: Bearer TOKEN" or by opening the dashboard once at
http://host:port/?token=TOKEN, which sets a cookie. The server speaks plain
HTTP: beyond this machine, put it behind a TLS proxy. --read-only hides and
refuses every button. --json prints the address served on as a JSON object
{"url": ..., "store": ...}. --demo serves an in-memory store with a workload
running instead of Redis.`)
	s := storeFlags(fs.FlagSet)
	addr := fs.String("addr", "127.0.0.1:8080", "the address to listen on, host:port")
	readOnly := fs.Bool("read-only", false, "hide and refuse every action that changes the store")
	token := fs.String("token", "", "a token every request must carry (default $"+webTokenEnv+")")
	demo := fs.Bool("demo", false, "serve an in-memory store with a demo workload running, instead of Redis")
	args, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return fs.badUsage("unexpected arguments %q", args)
	}
	if err := s.check(fs); err != nil {
		return err
	}
	if *demo && fs.isSet("redis") {
		return fs.badUsage("--demo serves a memory store: it takes no --redis")
	}
	if *token == "" {
		*token = os.Getenv(webTokenEnv)
	}
	if err := web.CheckAddr(*addr, *token); err != nil {
		return fs.badUsage("--addr: %v", err)
	}
	cfg := web.Config{Namespace: s.ns, ReadOnly: *readOnly, Token: *token}
	demoDone := make(chan struct{})
	if *demo {
		b := memory.New()
		defer b.Close()
		c, err := keyq.New(b, s.ns)
		if err != nil {
			return err
		}
		dctx, stop := context.WithCancel(ctx)
		go func() {
			defer close(demoDone)
			if err := web.Demo(dctx, c); err != nil {
				fmt.Fprintf(env.Stderr, "keyq web: demo workload: %v\n", err)
			}
		}()
		defer func() { stop(); <-demoDone }()
		cfg.Backend, cfg.Store = b, "memory (demo)"
	} else {
		b, err := env.Open(ctx, s.url)
		if err != nil {
			return err
		}
		defer b.Close()
		u := s.url
		if u == "" {
			u = defaultRedisURL()
		}
		cfg.Backend, cfg.Store = b, redisbackend.RedactURL(u)
	}
	srv, err := web.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + l.Addr().String() + "/"
	if s.json {
		err = writeJSON(env.Stdout, struct {
			URL   string `json:"url"`
			Store string `json:"store"`
		}{url, cfg.Store})
	} else {
		_, err = fmt.Fprintf(env.Stdout, "keyq web: serving %s on %s\n", cfg.Store, url)
	}
	if err != nil {
		l.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}
