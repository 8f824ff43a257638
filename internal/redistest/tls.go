package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Certs is a certificate authority made for a test, and certificates it signed:
// one for a server on 127.0.0.1 and localhost, one for a client. Each is a PEM
// file in a directory of the test.
type Certs struct {
	CAFile                string         // the CA's certificate
	CertFile, KeyFile     string         // the server's certificate and key
	ClientCert, ClientKey string         // the client's certificate and key
	Pool                  *x509.CertPool // holds the CA's certificate
}

// NewCerts makes a CA and certificates signed by it, valid for an hour.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	ca, caDER, caKey := newCert(t, nil, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "keyq test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	c := &Certs{Pool: x509.NewCertPool()}
	c.Pool.AddCert(ca)
	c.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	_, srvDER, srvKey := newCert(t, ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	c.CertFile = writePEM(t, dir, "server.pem", "CERTIFICATE", srvDER)
	c.KeyFile = writeKey(t, dir, "server-key.pem", srvKey)
	_, cliDER, cliKey := newCert(t, ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "keyq test client"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	c.ClientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", cliDER)
	c.ClientKey = writeKey(t, dir, "client-key.pem", cliKey)
	return c
}

// newCert makes a certificate from tmpl, signed by parent (self-signed when nil),
// and returns it, in DER too, and its key.
func newCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, []byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("redistest: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatalf("redistest: serial: %v", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Minute)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("redistest: certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("redistest: certificate: %v", err)
	}
	return leaf, der, key
}

// writeKey writes key as a PEM file in dir.
func writeKey(t testing.TB, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("redistest: key: %v", err)
	}
	return writePEM(t, dir, name, "EC PRIVATE KEY", der)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return path
}

// StartTLS runs a redis-server as Start does, with a TLS port too (TLSAddr) that
// presents certs' server certificate. Clients may present a certificate signed by
// the CA and need not. redis-server must be built with TLS, as Debian's is.
func StartTLS(t testing.TB, certs *Certs, args ...string) *Server {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	s, err := tryStart(t, append([]string{"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", certs.CertFile, "--tls-key-file", certs.KeyFile,
		"--tls-ca-cert-file", certs.CAFile, "--tls-auth-clients", "optional"}, args...)...)
	if err != nil && (strings.Contains(err.Error(), "tls-port") || strings.Contains(err.Error(), "TLS support")) {
		// A server built without TLS (BUILD_TLS=no) takes no tls-port
		// directive (Redis, KeyDB), or takes it and logs that it has no TLS
		// support (Valkey 8): there is nothing to test TLS against.
		t.Skipf("redistest: this redis-server has no TLS: %v", err)
	}
	if err != nil {
		t.Fatalf("redistest: redis-server did not start: %v", err)
	}
	s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return s
}
