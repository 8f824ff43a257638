package redisbackend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// OpenURL connects to the Redis deployment at url, checks that it answers, and
// returns a backend that owns the connection: its Close closes the client too.
//
// The URL names a single server, a cluster or a master watched by Sentinel:
//
//	redis://[[user]:password@]host[:port][/db][?option=value&...]
//	rediss://...                     the same over TLS
//	unix://[[user]:password@]/path/to/redis.sock[?db=n&...]
//	redis+cluster://[[user]:password@]host1:port1[,host2:port2...][?option=value&...]
//	rediss+cluster://...             a cluster over TLS
//	redis+sentinel://[[user]:password@]host1:port1[,host2:port2...][/db]?master=name[&...]
//	rediss+sentinel://...            Sentinel and the servers over TLS
//
// The port defaults to 6379, and to 26379 for a sentinel. In every form the user
// info is the account on the servers that hold the data; a '/', '?', '#' or '%' in
// it must be percent-escaped (%2F, %3F, %23, %25). A Sentinel that asks for
// a password of its own takes it from the sentinel_username and sentinel_password
// options. The options are those of go-redis's ParseURL, ParseClusterURL and
// ParseFailoverURL (dial_timeout, read_timeout, pool_size, max_retries, ...), plus
// the TLS options of every TLS form: tls_ca_file=FILE, the PEM file of the CAs
// that verify the servers' certificates instead of the host's root CAs;
// tls_cert_file=FILE and tls_key_file=FILE, a client certificate and its key; and
// skip_verify=true, which turns off the verification of the servers' certificates;
// and wait_replicas=N, wait_timeout=DURATION and wait_aof=true,
// Options.WaitReplicas, WaitTimeout and WaitAOF for an opts that leaves them
// unset (S8.8). A cluster has no
// database number; a Sentinel URL needs master.
// Options that cannot work for keyq are refused: route_by_latency, route_randomly
// and replica_only for Sentinel, and context_timeout_enabled=false.
//
// OpenURL sets go-redis's ContextTimeoutEnabled, so that every call ends by its
// context's deadline even when the server stops answering (S7.1).
//
// A TLS form verifies the servers' certificates against the host's root CAs, or
// against those of opts.TLSConfig when it is set (for example with RootCAs holding
// a private CA, or with client certificates), or of tls_ca_file, which overrides
// it. An empty ServerName defaults to the URL's host for a single server, and to
// the host of each address otherwise. TLS 1.2 is the least version. opts.TLSConfig
// or a TLS option with a form without TLS is ErrInvalid.
//
// A bad URL is ErrInvalid; a deployment that does not answer is ErrUnavailable
// (or ErrTimeout when ctx runs out). No error of OpenURL holds the URL's password
// or any other secret of it: the URL appears as RedactURL prints it. For other
// setups, or a client shared with other code, make the client yourself and call
// New.
func OpenURL(ctx context.Context, url string, opts Options) (*Backend, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", backend.ErrInvalid)
	}
	t, err := parseURL(url, opts.TLSConfig)
	if err != nil {
		return nil, err
	}
	client := t.newClient()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		if t.failover != nil && errors.Is(err, redis.Nil) {
			// Every sentinel answered, and none knows the master.
			return nil, fmt.Errorf("%s: no sentinel knows the master: %w", t.where, backend.ErrUnavailable)
		}
		return nil, redactErr(fmt.Errorf("%s: %w", t.where, mapErr(ctx, err)), url)
	}
	opts.TLSConfig = nil // the client has it; New refuses it
	if opts.WaitReplicas == 0 {
		opts.WaitReplicas = t.wait.replicas
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = t.wait.timeout
	}
	opts.WaitAOF = opts.WaitAOF || t.wait.aof
	b, err := New(client, opts)
	if err == nil {
		if err = b.checkEviction(ctx); err != nil {
			err = fmt.Errorf("%s: %w", t.where, mapErr(ctx, err))
		}
	}
	if err != nil {
		client.Close()
		return nil, redactErr(err, url)
	}
	b.owned = client
	return b, nil
}

// target is a parsed URL: the options of one of the three kinds of client, and a
// description of where it goes, without secrets, for errors.
type target struct {
	where    string
	single   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions

	// wait holds the URL's wait_replicas, wait_timeout and wait_aof, for the
	// Options that leave them unset.
	wait waitOpts
}

func (t *target) newClient() redis.UniversalClient {
	switch {
	case t.cluster != nil:
		return redis.NewClusterClient(t.cluster)
	case t.failover != nil:
		return redis.NewFailoverClient(t.failover)
	default:
		return redis.NewClient(t.single)
	}
}

// tlsConfig returns the TLS configuration of a connection: user's, or the host's
// roots, with TLS 1.2 at least, and verification off if insecure.
func tlsConfig(user *tls.Config, serverName string, insecure bool) *tls.Config {
	c := &tls.Config{}
	if user != nil {
		c = user.Clone()
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	if c.ServerName == "" {
		c.ServerName = serverName
	}
	if insecure {
		c.InsecureSkipVerify = true
	}
	return c
}
