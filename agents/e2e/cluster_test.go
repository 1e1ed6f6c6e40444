package e2e

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store/storetest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// natsNodeMain runs one node of a NATS cluster on loopback (JetStream on
// disk, routes to the other nodes) until it is killed: the three-node
// cluster test starts three of them as processes.
func natsNodeMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	port, _ := strconv.Atoi(os.Getenv("TL_NODE_PORT"))
	cport, _ := strconv.Atoi(os.Getenv("TL_NODE_CLUSTER_PORT"))
	var routes []*url.URL
	for _, r := range strings.Split(os.Getenv("TL_NODE_ROUTES"), ",") {
		u, err := url.Parse(r)
		if err != nil {
			fmt.Fprintln(os.Stderr, "route:", err)
			return 1
		}
		routes = append(routes, u)
	}
	s, err := server.NewServer(&server.Options{
		ServerName: os.Getenv("TL_NODE_NAME"), Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: os.Getenv("TL_NODE_DIR"), NoSigs: true,
		Cluster: server.ClusterOpts{Name: "tl-e2e", Host: "127.0.0.1", Port: cport},
		Routes:  routes,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		return 1
	}
	s.ConfigureLogger()
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats node: not ready")
		return 1
	}
	<-ctx.Done()
	s.Shutdown()
	return 0
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Three NATS servers in a cluster, as processes on loopback; two masters and
// two agents spread over them. The workflow's streams are replicated on the
// three. Mid-plan the node the leading master talks to is killed with
// SIGKILL: the plan finishes, every task's effect happens once and every
// task runs once, and a master leads throughout.
func TestThreeNodeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the three-node cluster test starts seven processes")
	}
	e := &env{t: t, queue: "q" + strings.ReplaceAll(storetest.TempName(""), "-", "")}
	ctx := storetest.Context(t)
	const n = 3
	ports, cports := make([]int, n), make([]int, n)
	for i := range n {
		ports[i], cports[i] = freePort(t), freePort(t)
	}
	urls := make([]string, n)
	for i := range n {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	nodes := make([]*testworld.Proc, n)
	for i := range n {
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cports[j]))
			}
		}
		nodes[i] = e.startRaw(fmt.Sprintf("nats-%d", i+1), "natsnode",
			"TL_NODE_NAME="+fmt.Sprintf("n%d", i+1), "TL_NODE_PORT="+strconv.Itoa(ports[i]),
			"TL_NODE_CLUSTER_PORT="+strconv.Itoa(cports[i]), "TL_NODE_ROUTES="+strings.Join(routes, ","),
			"TL_NODE_DIR="+t.TempDir())
	}
	// Every node answers, and JetStream has a meta leader.
	e.natsURL = strings.Join(urls, ",")
	var js jetstream.JetStream
	e.eventually("the cluster to form", 60*time.Second, func() (bool, string) {
		nc, j, err := queue.Connect(ctx, e.natsURL, "e2e-test", nil)
		if err != nil {
			return false, err.Error()
		}
		if len(nc.Servers()) < n {
			nc.Close()
			return false, fmt.Sprintf("knows %d servers", len(nc.Servers()))
		}
		// A request made before the meta leader is elected gets no answer.
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = j.AccountInfo(actx)
		cancel()
		if err != nil {
			nc.Close()
			return false, "jetstream: " + err.Error()
		}
		js = j
		t.Cleanup(nc.Close)
		return true, ""
	})
	if r := queue.Replicas(js.Conn()); r != 3 {
		t.Fatalf("Replicas on a three-node cluster: %d", r)
	}
	// A meta leader may be elected before it has heard of every peer: a
	// stream of three replicas then finds "no suitable peers" for a moment.
	e.eventually("the replicated streams to be created", 60*time.Second, func() (bool, string) {
		if err := queue.Setup(ctx, js); err != nil {
			return false, err.Error()
		}
		if _, err := queue.EnsureQueue(ctx, js, e.queue, ackWait); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	s, err := js.Stream(ctx, queue.TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(ctx); err != nil || info.Config.Replicas != 3 {
		t.Fatalf("stream %s: %v, replicas %d; want 3", queue.TasksStream, err, info.Config.Replicas)
	}
	e.js = js
	e.openStore(ctx)

	// Each process gets the servers in its own order: it connects to the first.
	order := func(first int) string {
		var u []string
		for i := range n {
			u = append(u, urls[(first+i)%n])
		}
		return "TL_NATS_URL=" + strings.Join(u, ",")
	}
	e.start("master", "master-1", order(0))
	e.start("master", "master-2", order(1))
	e.agent("agent-1", order(1))
	e.agent("agent-2", order(2))
	e.waitAgents(2)

	const tasks = 24
	var doc strings.Builder
	doc.WriteString("name: cluster\ntasks:\n")
	for i := range tasks {
		fmt.Fprintf(&doc, "  - {id: t%02d, kind: work, queue: QUEUE, max_attempts: 5, params: {ms: 400}}\n", i)
	}
	id := e.submit(doc.String())
	e.eventually("a few tasks to finish", 120*time.Second, func() (bool, string) {
		ts, err := e.status.Tasks(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		done := 0
		for _, tk := range ts {
			if tk.Status == plan.Succeeded {
				done++
			}
		}
		return done >= 4, fmt.Sprintf("%d done", done)
	})
	nodes[0].Kill() // kill -9 of the node master-1 (the first to lead, most likely) talks to
	p, ts := e.waitPlan(id)
	if p.Status != plan.Succeeded {
		t.Fatalf("plan %s after a node was killed: %s\n%s", id, p.Status, e.describe(id))
	}
	if len(ts) != tasks {
		t.Fatalf("%d task records; want %d", len(ts), tasks)
	}
	for _, coll := range []string{effectsColl, runsColl} {
		for tk := range ts {
			key := id + "/" + tk
			n, err := e.db.Collection(coll).CountDocuments(ctx, bson.D{{Key: "task", Value: key}})
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s: task %s recorded %d times; want once", coll, key, n)
			}
		}
	}
}

// startRaw runs this test binary in role with only the given environment
// added (start adds the test's store and queue; a NATS node needs neither).
// The process is killed (kill -9) when the test ends; its output is logged if
// the test failed or TL_TEST_VERBOSE is set.
func (e *env) startRaw(name, role string, extra ...string) *testworld.Proc {
	e.t.Helper()
	return testworld.Start(e.t, name, testworld.Self(append([]string{"TL_E2E_ROLE=" + role}, extra...)...))
}
