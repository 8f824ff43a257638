// Package web serves keyq's dashboard: the namespaces of a store, the counts of
// each queue with their rates over the last minutes, whether it is paused, with
// pause and resume, the live leases, the delayed tasks with their due times, a
// task's job record and payload with cancel, and the dead letters with requeue
// and purge. An action the backend does not support (a driver without
// backend.Admin or backend.Controller) answers 501 Not Implemented.
//
// The dashboard is plain HTML rendered by html/template, so every value it shows
// (a key, a payload, an error holding "<script>") is escaped and renders as text;
// its assets are embedded in the binary. Its security model:
//
//   - With a Token, every request must carry it: as the header
//     "Authorization: Bearer T", or as the cookie the server sets (HttpOnly,
//     SameSite=Strict) when a browser first opens a page with ?token=T. Without it
//     the answer is 401. CheckAddr refuses to serve beyond loopback without a token.
//   - A request that changes the store is a POST carrying the server's CSRF token,
//     a random value drawn once per process and written into each form, in the
//     form field "csrf" or the header X-CSRF-Token; a POST without it, or from
//     another origin, is refused with 403.
//   - Without a Token, a request whose Host is not a loopback name is refused
//     with 403, against DNS rebinding.
//   - ReadOnly hides the buttons and refuses every POST with 403.
//   - Every answer carries a Content-Security-Policy that allows only the
//     dashboard's own script and style, so an injected inline script could not
//     run even if escaping failed.
package web

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html"))

// Config is what a Server shows and how it guards it.
type Config struct {
	// Backend is the store shown. The server does not close it.
	Backend backend.Backend
	// Namespace is the namespace shown first; "default" when empty.
	Namespace string
	// Store describes the store on the page, for example the URL as
	// redisbackend.RedactURL prints it. It must hold no secret.
	Store string
	// ReadOnly hides and refuses every action that changes the store.
	ReadOnly bool
	// Token, when not empty, is required on every request (see the package doc).
	Token string
	// Sample is the interval at which the server samples the counters of the
	// namespaces it has shown, for the rate charts; 5s when 0.
	Sample time.Duration
	// Window is how far back the charts reach; 5 minutes when 0.
	Window time.Duration
}

// Server is the dashboard, an http.Handler. Close stops its sampling.
type Server struct {
	cfg     Config
	csrf    string
	mux     *http.ServeMux
	sampler *sampler

	mu      sync.Mutex
	clients map[string]*keyq.Client
}

// New returns the dashboard of cfg.Backend. It starts sampling counters at once;
// Close stops it.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, fmt.Errorf("web: %w: no backend", keyq.ErrInvalid)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Sample <= 0 {
		cfg.Sample = 5 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 5 * time.Minute
	}
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	s := &Server{cfg: cfg, csrf: hex.EncodeToString(b[:]), mux: http.NewServeMux(), clients: map[string]*keyq.Client{}}
	if _, err := s.client(cfg.Namespace); err != nil {
		return nil, err
	}
	s.sampler = newSampler(s, cfg.Sample, int(cfg.Window/cfg.Sample)+1)
	s.sampler.watch(cfg.Namespace)
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /task", s.task)
	s.mux.HandleFunc("GET /delayed", s.delayed)
	s.mux.HandleFunc("POST /dead/{action}", s.deadAction)
	s.mux.HandleFunc("POST /queue/{action}", s.queueAction)
	s.mux.HandleFunc("POST /task/cancel", s.cancelTask)
	s.mux.Handle("GET /assets/", http.FileServerFS(assets))
	return s, nil
}

// Close stops the sampling. It does not close the backend.
func (s *Server) Close() { s.sampler.stop() }

// CSRFToken returns the token a POST must carry.
func (s *Server) CSRFToken() string { return s.csrf }

// client returns the client of namespace ns.
func (s *Server) client(ns string) (*keyq.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[ns]; ok {
		return c, nil
	}
	c, err := keyq.New(s.cfg.Backend, ns)
	if err != nil {
		return nil, err
	}
	if len(s.clients) < maxClients {
		s.clients[ns] = c
	}
	return c, nil
}

// maxClients bounds the clients kept, so that a client asking for many names
// cannot grow the server without end.
const maxClients = 256

// ServeHTTP checks the token, then serves the page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser sends "Origin: null"
	// on the dashboard's own form posts, which checkPost refuses.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if !s.hostAllowed(r) {
		http.Error(w, "403 forbidden: without a token the dashboard answers only to a loopback host name", http.StatusForbidden)
		return
	}
	if !s.authorized(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// hostAllowed reports whether r may be served given its Host. Without a token
// only a loopback host (127.0.0.1, [::1], localhost) is: a page of another site
// whose name an attacker rebinds to 127.0.0.1 (DNS rebinding) would otherwise be
// same-origin with the dashboard, read its CSRF token and post with it.
func (s *Server) hostAllowed(r *http.Request) bool {
	if s.cfg.Token != "" {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	return Loopback(strings.Trim(host, "[]"))
}

// tokenCookie names the cookie that carries the token of a browser.
const tokenCookie = "keyq_token"

// authorized reports whether r may be served, having answered it when not. A
// GET with the right ?token= sets the cookie and redirects to the same page
// without it, so that the token leaves the address bar and the history.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	if q := r.URL.Query(); q.Has("token") && r.Method == http.MethodGet && s.tokenIs(q.Get("token")) {
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.cfg.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		q.Del("token")
		u := *r.URL
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") && s.tokenIs(strings.TrimPrefix(a, "Bearer ")) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && s.tokenIs(c.Value) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="keyq"`)
	http.Error(w, "401 unauthorized: this dashboard needs its token (open it once with ?token=...)", http.StatusUnauthorized)
	return false
}

func (s *Server) tokenIs(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.cfg.Token)) == 1
}

// checkPost reports whether the POST r may change the store, having answered it
// when not: the server is not read-only, r comes from the dashboard's own origin
// and carries the CSRF token.
func (s *Server) checkPost(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.ReadOnly {
		http.Error(w, "403 forbidden: the dashboard is read-only", http.StatusForbidden)
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			http.Error(w, "403 forbidden: cross-origin request", http.StatusForbidden)
			return false
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		http.Error(w, "403 forbidden: cross-site request", http.StatusForbidden)
		return false
	}
	t := r.Header.Get("X-CSRF-Token")
	if t == "" {
		t = r.PostFormValue("csrf")
	}
	if subtle.ConstantTimeCompare([]byte(t), []byte(s.csrf)) != 1 {
		http.Error(w, "403 forbidden: missing or wrong CSRF token", http.StatusForbidden)
		return false
	}
	return true
}

// CheckAddr returns an error when addr (host:port) would listen beyond the
// loopback interface without a token: an empty host listens on every interface.
func CheckAddr(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: listen address %q: %v", keyq.ErrInvalid, addr, err)
	}
	if token != "" || Loopback(host) {
		return nil
	}
	return fmt.Errorf("%w: listening on %q reaches beyond this machine: set a token", keyq.ErrInvalid, addr)
}

// Loopback reports whether host names only the loopback interface.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
