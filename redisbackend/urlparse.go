package redisbackend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// The kinds of deployment a URL names.
const (
	kindSingle = iota
	kindCluster
	kindSentinel
)

// schemes maps each URL scheme OpenURL takes to its kind and whether it uses TLS.
var schemes = map[string]struct {
	kind int
	tls  bool
}{
	"redis":           {kindSingle, false},
	"rediss":          {kindSingle, true},
	"unix":            {kindSingle, false},
	"redis+cluster":   {kindCluster, false},
	"rediss+cluster":  {kindCluster, true},
	"redis+sentinel":  {kindSentinel, false},
	"rediss+sentinel": {kindSentinel, true},
}

// urlError is a bad URL: ErrInvalid, with the URL redacted and a reason that
// quotes no part of the URL that could be a secret.
func urlError(s, reason string) error {
	return &redactedError{
		msg: fmt.Sprintf("%v: redis URL %s: %s", backend.ErrInvalid, RedactURL(s), redactText(reason, s)),
		err: backend.ErrInvalid,
	}
}

// parseURL parses a URL of OpenURL into the options of a client. tlsConf is
// Options.TLSConfig. Every error is ErrInvalid and free of the URL's secrets.
func parseURL(s string, tlsConf *tls.Config) (*target, error) {
	name, rest := splitScheme(s)
	if name == "" {
		return nil, urlError(s, "not a URL: want redis://host:port or another form of OpenURL")
	}
	name = strings.ToLower(strings.TrimSuffix(name, "://"))
	sc, ok := schemes[name]
	if !ok {
		return nil, urlError(s, "unknown scheme: want redis, rediss, unix, "+
			"redis+cluster, rediss+cluster, redis+sentinel or rediss+sentinel")
	}
	// The user info must end before the path, the query and the fragment, where
	// net/url ends it; otherwise a part of the password would be read as a host
	// or a path, and might be quoted.
	if at := strings.LastIndex(rest, "@"); at >= 0 && strings.ContainsAny(rest[:at], "/?#") {
		return nil, urlError(s, "an '@' after the host, or a '/', '?' or '#' in the user info: percent-escape them")
	}
	// Host lists do not parse as URL hosts: parse them on their own.
	var hosts string
	if sc.kind != kindSingle {
		authEnd := len(rest)
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			authEnd = i
		}
		user := ""
		hosts = rest[:authEnd]
		if at := strings.LastIndex(hosts, "@"); at >= 0 {
			user, hosts = hosts[:at+1], hosts[at+1:]
		}
		s2 := name + "://" + user + "hosts" + rest[authEnd:]
		rest = s2[len(name)+3:]
	}
	u, err := url.Parse(name + "://" + rest)
	if err != nil {
		return nil, urlError(s, parseReason(err))
	}
	q := u.Query()
	insecure, err := boolParam(q, "skip_verify")
	if err != nil {
		return nil, urlError(s, err.Error())
	}
	files := q.Has("tls_ca_file") || q.Has("tls_cert_file") || q.Has("tls_key_file")
	switch {
	case !sc.tls && tlsConf != nil:
		return nil, urlError(s, "Options.TLSConfig is set but the URL does not use TLS: use rediss")
	case !sc.tls && (insecure || files):
		return nil, urlError(s, "TLS options without TLS: use rediss")
	case files:
		if tlsConf, err = tlsFiles(q, tlsConf); err != nil {
			return nil, urlError(s, err.Error())
		}
	}
	if q.Has("context_timeout_enabled") {
		if on, err := boolParam(q, "context_timeout_enabled"); err != nil || !on {
			return nil, urlError(s, "context_timeout_enabled must stay on: every call ends by its context's deadline (S7.1)")
		}
	}
	wait, err := waitParams(q)
	if err != nil {
		return nil, urlError(s, err.Error())
	}
	var username, password string
	if u.User != nil {
		username = u.User.Username()
		password, _ = u.User.Password()
	}
	// go-redis parses the rest; it never sees a secret, so its errors hold none.
	plain := *u
	plain.User = nil
	var t *target
	switch sc.kind {
	case kindCluster:
		t, err = parseCluster(s, &plain, q, hosts, username, password, tlsConf, sc.tls, insecure)
	case kindSentinel:
		t, err = parseSentinel(s, &plain, q, hosts, username, password, tlsConf, sc.tls, insecure)
	default:
		t, err = parseSingle(s, &plain, q, u.Hostname(), username, password, tlsConf, sc.tls, insecure)
	}
	if err != nil {
		return nil, err
	}
	t.wait = wait
	return t, nil
}

func parseSingle(s string, plain *url.URL, q url.Values, hostname, username, password string,
	tlsConf *tls.Config, useTLS, insecure bool) (*target, error) {
	plain.RawQuery = q.Encode()
	o, err := redis.ParseURL(plain.String())
	if err != nil {
		return nil, urlError(s, err.Error())
	}
	o.Username, o.Password = username, password
	o.ContextTimeoutEnabled = true
	if useTLS {
		o.TLSConfig = tlsConfig(tlsConf, hostname, insecure)
	}
	return &target{where: "redis at " + o.Addr, single: o}, nil
}

// maxWaitReplicas bounds the URL option wait_replicas.
const maxWaitReplicas = 1000

// waitOpts are the URL's options for waiting for replicas: wait_replicas,
// wait_timeout and wait_aof (Options.WaitReplicas, WaitTimeout and WaitAOF).
type waitOpts struct {
	replicas int
	timeout  time.Duration
	aof      bool
}

// waitParams removes the options wait_replicas=N, wait_timeout=DURATION and
// wait_aof=BOOL from q and returns them; absent, zero.
func waitParams(q url.Values) (waitOpts, error) {
	var w waitOpts
	if q.Has("wait_replicas") {
		v := q.Get("wait_replicas")
		q.Del("wait_replicas")
		var err error
		if w.replicas, err = strconv.Atoi(v); err != nil || w.replicas < 0 || w.replicas > maxWaitReplicas {
			return waitOpts{}, fmt.Errorf("option wait_replicas=%q: want a whole number from 0 to %d", v, maxWaitReplicas)
		}
	}
	if q.Has("wait_timeout") {
		v := q.Get("wait_timeout")
		q.Del("wait_timeout")
		var err error
		if w.timeout, err = time.ParseDuration(v); err != nil || w.timeout <= 0 {
			return waitOpts{}, fmt.Errorf("option wait_timeout=%q: want a positive duration such as 500ms", v)
		}
	}
	var err error
	if w.aof, err = boolParam(q, "wait_aof"); err != nil {
		return waitOpts{}, err
	}
	return w, nil
}

func parseCluster(s string, u *url.URL, q url.Values, hosts, username, password string,
	tlsConf *tls.Config, useTLS, insecure bool) (*target, error) {
	if u.Path != "" && u.Path != "/" {
		return nil, urlError(s, "a cluster has no database number: remove the path")
	}
	addrs, err := parseHosts(hosts, "6379")
	if err != nil {
		return nil, urlError(s, err.Error())
	}
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	u.Scheme, u.Host, u.Path, u.RawQuery = "redis", addrs[0], "", q.Encode()
	o, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, urlError(s, err.Error())
	}
	o.Username, o.Password = username, password
	o.ContextTimeoutEnabled = true
	if useTLS {
		o.TLSConfig = tlsConfig(tlsConf, "", insecure) // each node's name from its address
	}
	return &target{where: "redis cluster at " + strings.Join(o.Addrs, ","), cluster: o}, nil
}

func parseSentinel(s string, u *url.URL, q url.Values, hosts, username, password string,
	tlsConf *tls.Config, useTLS, insecure bool) (*target, error) {
	master := q.Get("master")
	if master == "" {
		return nil, urlError(s, "a Sentinel URL needs the master's name: ?master=name")
	}
	q.Del("master")
	for _, p := range []string{"master_name", "username", "password"} {
		if q.Has(p) {
			return nil, urlError(s, fmt.Sprintf("option %s: give the master as master=name and the servers' account as the user info", p))
		}
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	addrs, err := parseHosts(hosts, "26379")
	if err != nil {
		return nil, urlError(s, err.Error())
	}
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	q.Set("master_name", master)
	u.Scheme, u.Host, u.RawQuery = "redis", addrs[0], q.Encode()
	o, err := redis.ParseFailoverURL(u.String())
	if err != nil {
		return nil, urlError(s, err.Error())
	}
	switch {
	case o.RouteByLatency, o.RouteRandomly:
		return nil, urlError(s, "route_by_latency and route_randomly need a client of replicas; keyq writes on the master")
	case o.ReplicaOnly:
		return nil, urlError(s, "replica_only: keyq writes, and only on the master")
	}
	o.Username, o.Password = username, password
	o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPass
	o.ContextTimeoutEnabled = true
	o.TLSConfig = nil
	if useTLS {
		o.TLSConfig = tlsConfig(tlsConf, "", insecure) // each server's name from its address
	}
	return &target{
		where:    fmt.Sprintf("redis master %q via sentinels at %s", master, strings.Join(o.SentinelAddrs, ",")),
		failover: o,
	}, nil
}

// parseHosts parses a comma-separated list of host[:port], adding port where it
// is missing. Its errors quote no host: a malformed list may hold a password.
func parseHosts(list, port string) ([]string, error) {
	var addrs []string
	for i, h := range strings.Split(list, ",") {
		u, err := url.Parse("//" + h)
		if err != nil || u.Hostname() == "" || u.User != nil || u.Path != "" {
			return nil, fmt.Errorf("host %d of the list is not host[:port]", i+1)
		}
		p := u.Port()
		if p == "" {
			p = port
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("host %d of the list has a bad port", i+1)
		}
		addrs = append(addrs, net.JoinHostPort(u.Hostname(), p))
	}
	return addrs, nil
}

// boolParam removes the query parameter name from q and returns its value: false
// when absent.
func boolParam(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	v := q.Get(name)
	q.Del(name)
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("option %s=%q: want true or false", name, v)
	}
	return b, nil
}

// parseReason describes why net/url refused a URL. It quotes nothing that could
// come from the user info: an escape error may be in the password.
func parseReason(err error) string {
	var ee url.EscapeError
	if errors.As(err, &ee) {
		return "a bad percent-escape"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return strings.TrimPrefix(ue.Err.Error(), "net/url: ")
	}
	return "does not parse"
}

// tlsFiles removes the options tls_ca_file, tls_cert_file and tls_key_file from q
// and returns base (or an empty configuration) with what they name: the CAs that
// verify the servers instead of the host's roots, and a client certificate.
func tlsFiles(q url.Values, base *tls.Config) (*tls.Config, error) {
	c := &tls.Config{}
	if base != nil {
		c = base.Clone()
	}
	ca, cert, key := q.Get("tls_ca_file"), q.Get("tls_cert_file"), q.Get("tls_key_file")
	q.Del("tls_ca_file")
	q.Del("tls_cert_file")
	q.Del("tls_key_file")
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("tls_ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca_file %s: no PEM certificate in it", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("tls_cert_file and tls_key_file go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("tls_cert_file, tls_key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
