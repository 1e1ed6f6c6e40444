package ui

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store"
)

// TestControlOfAnotherClientsPlan runs the dashboard against NATS with
// credentials, as a client: a cancel or a retry of a plan that another
// client submitted is refused by the master and answered 403, saying so,
// and leaves the plan running; the dashboard's own plan it may cancel.
func TestControlOfAnotherClientsPlan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	w := testworld.StartAuthNATS(t, ctx)
	quiet := slog.New(slog.DiscardHandler)
	testworld.RunMaster(t, master.Config{NATSURL: w.URL(), Credentials: w.Creds(queue.RoleMaster), Store: st,
		Tick: 200 * time.Millisecond, Log: quiet})

	uiCreds := w.Creds(queue.RoleClient)
	const token = "control-token"
	s, err := New(Config{Token: token, Store: func(context.Context) (*store.DB, error) { return db, nil },
		NATS: func(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
			return queue.Connect(ctx, w.URL(), "tl ui test", quiet, uiCreds.Options()...)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	form := url.Values{"csrf": {s.csrfToken()}}
	hdr := []string{"Authorization", "Bearer " + token, "Origin", ts.URL, "Sec-Fetch-Site", "same-origin"}

	planStatus := func(id string) plan.Status {
		p, err := st.Plan(ctx, id)
		if err != nil {
			return ""
		}
		return p.Status
	}
	// No agent serves the queue: a task stays queued until cancelled.
	submit := func(js jetstream.JetStream) string {
		t.Helper()
		spec, err := plan.Parse([]byte("name: owned\ntasks:\n  - {id: wait, kind: hold, queue: nobody}\n"), "owned.yaml")
		if err != nil {
			t.Fatal(err)
		}
		id, err := master.Submit(ctx, js, spec)
		if err != nil {
			t.Fatal(err)
		}
		testworld.Eventually(t, "plan "+id+" recorded", 100*time.Millisecond, 60*time.Second, func() (bool, string) {
			return planStatus(id) == plan.Running, string(planStatus(id))
		})
		return id
	}
	_, otherJS := w.Connect(w.Creds(queue.RoleClient))
	_, ownJS := w.Connect(uiCreds)
	foreign, own := submit(otherJS), submit(ownJS)

	for _, what := range []string{"cancel", "retry"} {
		f := url.Values{"csrf": form["csrf"]}
		if what == "retry" {
			f.Set("task", "wait")
		}
		r := post(t, ts, "/plans/"+foreign+"/"+what, f, hdr...)
		if r.code != http.StatusForbidden {
			t.Fatalf("%s of another client's plan: %d %q; want 403", what, r.code, r.body)
		}
		for _, want := range []string{what + " of " + foreign, "refused by the master", "submitted by another client",
			"a client may " + what + " only its own plans"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("%s of another client's plan: the answer %q does not say %q", what, r.body, want)
			}
		}
		if strings.Contains(r.body, uiCreds.Password) {
			t.Errorf("%s: the answer shows the dashboard's NATS password", what)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if s := planStatus(foreign); s != plan.Running {
		t.Fatalf("after a refused cancel and retry another client's plan is %s; want running", s)
	}

	r := post(t, ts, "/plans/"+own+"/cancel", form, hdr...)
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/plans/"+own+"?sent=cancel" {
		t.Fatalf("cancel of the dashboard's own plan: %d to %q: %s", r.code, r.h.Get("Location"), r.body)
	}
	testworld.Eventually(t, "the own plan cancelled", 100*time.Millisecond, 60*time.Second, func() (bool, string) {
		return planStatus(own) == plan.Cancelled, string(planStatus(own))
	})
	if s := planStatus(foreign); s != plan.Running {
		t.Errorf("the own plan's cancel changed another client's plan: %s", s)
	}
}
