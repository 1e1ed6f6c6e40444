package storetest

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/tlgo/tl/store"
)

// Proxy forwards loopback TCP connections to a store's server until Cut, so a
// test can make the server "go away" under a client without stopping it.
type Proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// NewProxy starts a proxy in front of db's server; it is cut when the test ends.
func NewProxy(t testing.TB, db *store.DB) *Proxy {
	t.Helper()
	target := strings.TrimPrefix(db.URL(), "mongodb://")
	if i := strings.IndexAny(target, "/?"); i >= 0 {
		target = target[:i]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(p.Cut)
	return p
}

// URL is a mongodb:// URL through the proxy, with short server-selection and
// connect timeouts so that a cut shows quickly.
func (p *Proxy) URL() string {
	return "mongodb://" + p.ln.Addr().String() + "/?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000"
}

// Cut closes the listener and every forwarded connection.
func (p *Proxy) Cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
