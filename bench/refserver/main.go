// Command refserver is the benchmark's reference Kubernetes server: a ceiling
// that is not the bottleneck.  Its streaming endpoints are the real
// Kubernetes code (the kubelet's remotecommand and portforward servers, the
// apiserver's upgrade-aware proxy and SPDY-over-WebSocket tunnel), run over
// TLS against real local processes; its REST surface is the few read-only
// calls podfs and kubectl make to find a pod (discovery, namespaces, pods).
//
//	refserver -cluster bench/cluster.json -state DIR
//
// writes DIR/ca.crt, DIR/token, DIR/port and DIR/kubeconfig, then prints
// "ready https://127.0.0.1:PORT" on stdout and serves until killed.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	clusterFile := flag.String("cluster", "", "cluster file (the fixture's schema: namespaces, pods)")
	state := flag.String("state", "", "directory for ca.crt, token, kubeconfig")
	port := flag.Int("port", 0, "API port (0: any free port)")
	flag.Parse()
	if *clusterFile == "" || *state == "" {
		log.Fatal("usage: refserver -cluster FILE -state DIR [-port N]")
	}
	cl, err := loadCluster(*clusterFile)
	if err != nil {
		log.Fatalf("cluster file: %v", err)
	}
	defer cl.stop()

	kubelet, err := startKubelet(cl)
	if err != nil {
		log.Fatalf("kubelet listener: %v", err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	cert, certPEM, err := selfSigned()
	if err != nil {
		log.Fatalf("certificate: %v", err)
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		log.Fatal(err)
	}
	token := hex.EncodeToString(tok)
	base := "https://" + ln.Addr().String()
	if err := writeState(*state, base, token, certPEM); err != nil {
		log.Fatalf("state: %v", err)
	}
	srv := &http.Server{
		Handler: &api{cl: cl, token: token, kubelet: kubelet},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert},
			NextProtos: []string{"http/1.1"}},
		// HTTP/1.1 only: every stream is an upgrade, as through a real
		// apiserver for these clients (they never ask for h2 on upgrades).
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(os.Stderr, "refserver: ", 0),
	}
	fmt.Printf("ready %s\n", base)
	os.Stdout.Sync()
	log.Fatal(srv.ServeTLS(ln, "", ""))
}

// selfSigned makes one ECDSA certificate for 127.0.0.1 that is its own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "podfs-refserver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, err
}

// writeState leaves what clients need in dir, as the fixture does: ca.crt,
// token, port (for bench/floor and bench/wsraw.py) and a kubeconfig.
func writeState(dir, base, token string, ca []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: ref
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: ref
  user:
    token: %s
contexts:
- name: ref
  context:
    cluster: ref
    user: ref
    namespace: default
current-context: ref
`, base, base64.StdEncoding.EncodeToString(ca), token)
	for name, body := range map[string][]byte{"ca.crt": ca, "token": []byte(token + "\n"),
		"kubeconfig": []byte(kc),
		"port":       []byte(base[strings.LastIndex(base, ":")+1:] + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			return err
		}
	}
	return nil
}
