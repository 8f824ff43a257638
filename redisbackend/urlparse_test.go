package redisbackend

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// TestParseURLForms: each URL form makes the client it names, with the account,
// addresses and database of the URL, and context deadlines on.
func TestParseURLForms(t *testing.T) {
	ca := &tls.Config{ServerName: "", MinVersion: tls.VersionTLS13}
	for _, c := range []struct {
		url           string
		tls           *tls.Config
		kind          string
		addrs         []string
		user, pass    string
		db            int
		sentinelPass  string
		master        string
		tlsServerName string // "-" when without TLS
		insecure      bool
	}{
		{url: "redis://127.0.0.1", kind: "single", addrs: []string{"127.0.0.1:6379"}, tlsServerName: "-"},
		{url: "redis://u:p%40ss@h:7/3", kind: "single", addrs: []string{"h:7"}, user: "u", pass: "p@ss", db: 3, tlsServerName: "-"},
		{url: "rediss://:pw@h:6380", kind: "single", addrs: []string{"h:6380"}, pass: "pw", tlsServerName: "h"},
		{url: "rediss://h?skip_verify=true", kind: "single", addrs: []string{"h:6379"}, tlsServerName: "h", insecure: true},
		{url: "rediss://h", tls: ca, kind: "single", addrs: []string{"h:6379"}, tlsServerName: "h"},
		{url: "redis+cluster://:pw@a:7000,b:7001,[::1]", kind: "cluster",
			addrs: []string{"a:7000", "b:7001", "[::1]:6379"}, pass: "pw", tlsServerName: "-"},
		{url: "rediss+cluster://a:7000?addr=b:7001", kind: "cluster", addrs: []string{"a:7000", "b:7001"}, tlsServerName: ""},
		{url: "redis+sentinel://u:pw@a,b:26380/2?master=mymaster&sentinel_password=sp", kind: "sentinel",
			addrs: []string{"a:26379", "b:26380"}, user: "u", pass: "pw", db: 2, sentinelPass: "sp", master: "mymaster", tlsServerName: "-"},
		{url: "rediss+sentinel://a?master=m&skip_verify=1", kind: "sentinel", addrs: []string{"a:26379"}, master: "m", tlsServerName: "", insecure: true},
	} {
		tg, err := parseURL(c.url, c.tls)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		var (
			kind, user, pass, sentinelPass, master string
			addrs                                  []string
			db                                     int
			ctxTimeout                             bool
			tlsConf                                *tls.Config
		)
		switch {
		case tg.single != nil:
			o := tg.single
			kind, addrs, user, pass, db, ctxTimeout, tlsConf = "single", []string{o.Addr}, o.Username, o.Password, o.DB, o.ContextTimeoutEnabled, o.TLSConfig
		case tg.cluster != nil:
			o := tg.cluster
			kind, addrs, user, pass, ctxTimeout, tlsConf = "cluster", o.Addrs, o.Username, o.Password, o.ContextTimeoutEnabled, o.TLSConfig
		case tg.failover != nil:
			o := tg.failover
			kind, addrs, user, pass, db, ctxTimeout, tlsConf = "sentinel", o.SentinelAddrs, o.Username, o.Password, o.DB, o.ContextTimeoutEnabled, o.TLSConfig
			sentinelPass, master = o.SentinelPassword, o.MasterName
		}
		if kind != c.kind || !slices.Equal(addrs, c.addrs) || user != c.user || pass != c.pass || db != c.db ||
			sentinelPass != c.sentinelPass || master != c.master || !ctxTimeout {
			t.Errorf("%s: %s %q user %q pass %q db %d sentinel pass %q master %q context deadlines %v", c.url,
				kind, addrs, user, pass, db, sentinelPass, master, ctxTimeout)
		}
		switch {
		case c.tlsServerName == "-" && tlsConf != nil:
			t.Errorf("%s: TLS on", c.url)
		case c.tlsServerName == "-":
		case tlsConf == nil:
			t.Errorf("%s: TLS off", c.url)
		case tlsConf.ServerName != c.tlsServerName || tlsConf.InsecureSkipVerify != c.insecure || tlsConf.MinVersion < tls.VersionTLS12:
			t.Errorf("%s: TLS server name %q, insecure %v, min version %x", c.url, tlsConf.ServerName, tlsConf.InsecureSkipVerify, tlsConf.MinVersion)
		case c.tls != nil && (tlsConf == c.tls || tlsConf.MinVersion != c.tls.MinVersion):
			t.Errorf("%s: the given TLS config is not used, or not copied", c.url)
		}
		if strings.Contains(tg.where, "pw") {
			t.Errorf("%s: where %q holds the password", c.url, tg.where)
		}
	}
}

// TestOpenURLCluster: a redis+cluster URL reaches every master of a cluster.
func TestOpenURLCluster(t *testing.T) {
	cc := startCluster(t)
	url := "redis+cluster://" + strings.Join(cc.Options().Addrs, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := OpenURL(ctx, url, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatalf("OpenURL(%s): %v", url, err)
	}
	defer b.Close()
	if on, known := ContextTimeoutEnabled(b.client); !on || !known {
		t.Errorf("the cluster client of OpenURL: ContextTimeoutEnabled = %v, %v", on, known)
	}
	for i := range 3 { // namespaces in different slots
		roundTrip(t, b, "ns"+string(rune('a'+i)))
	}
}

// TestParseURLWaitReplicas: wait_replicas, wait_timeout and wait_aof reach the
// target on every form, and bad values are ErrInvalid without the password.
func TestParseURLWaitReplicas(t *testing.T) {
	for _, u := range []string{
		"redis://:pw@h?wait_replicas=2&wait_timeout=250ms&wait_aof=true",
		"redis+sentinel://:pw@a?master=m&wait_replicas=2&wait_timeout=250ms&wait_aof=true",
		"redis+cluster://:pw@a:7000?wait_replicas=2&wait_timeout=250ms&wait_aof=true",
	} {
		tg, err := parseURL(u, nil)
		if err != nil {
			t.Fatalf("%s: %v", RedactURL(u), err)
		}
		if want := (waitOpts{2, 250 * time.Millisecond, true}); tg.wait != want {
			t.Errorf("%s: wait options %+v; want %+v", RedactURL(u), tg.wait, want)
		}
	}
	for _, u := range []string{
		"redis://:s3cret@h?wait_replicas=-1",
		"redis://:s3cret@h?wait_replicas=two",
		"redis://:s3cret@h?wait_replicas=1001",
		"redis://:s3cret@h?wait_timeout=0s",
		"redis://:s3cret@h?wait_timeout=soon",
		"redis://:s3cret@h?wait_replicas=1&wait_aof=maybe",
	} {
		_, err := parseURL(u, nil)
		if !errors.Is(err, backend.ErrInvalid) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v; want ErrInvalid without the password", RedactURL(u), err)
		}
	}
}
