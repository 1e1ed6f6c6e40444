package stream_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/tlgo/tl/dataset"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/stream"
)

// cutProxy forwards loopback TCP to target until cut.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
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
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestServerGoneThenResume(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		host := strings.TrimPrefix(e.db.URL(), "mongodb://")
		if i := strings.IndexAny(host, "/?"); i >= 0 {
			host = host[:i]
		}
		p := newCutProxy(t, host)
		remote, err := store.Open(e.ctx, store.Config{
			URL:      "mongodb://" + p.ln.Addr().String() + "/?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000",
			Database: e.db.Database().Name(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer remote.Close(context.Background())
		samples, err := dataset.Open(e.ctx, remote, dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		train, err := samples.Dataset(e.ctx, "train")
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		cfg := stream.Config{Name: "retrain", Trigger: rec, Sources: []stream.Source{{Name: "samples", Dataset: train}}}
		ctl, err := stream.New(e.ctx, remote, cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.add(t, e.samples, 2, "train")
		if ev := step(t, e.ctx, ctl); ev == nil || ev.Total != 2 {
			t.Fatalf("event %+v", ev)
		}
		e.add(t, e.samples, 3, "train")
		p.cut() // the server goes away
		if ev, err := ctl.Step(e.ctx); err == nil || ev != nil {
			t.Fatalf("step without a server: %+v, %v; want an error", ev, err)
		}
		if len(rec.events) != 1 {
			t.Fatalf("%d triggers; the failed poll triggered", len(rec.events))
		}
		// A controller on a working connection resumes at the stored position.
		ctl2 := e.controller(t, stream.Config{Name: cfg.Name, Trigger: rec}) // direct connection
		ev := step(t, e.ctx, ctl2)
		if ev == nil || ev.Changes[0].After != 2 || ev.Total != 3 {
			t.Fatalf("after the outage: %+v; want the 3 samples after seq 2", ev)
		}
	})
}
