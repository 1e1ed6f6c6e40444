package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
)

// startUI runs `tl ui ARGS` until the test ends and returns its URL.
func startUI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &testworld.Buffer{}, &testworld.Buffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"ui"}, args...), out, errb) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("tl ui exited %d: %s", code, errb.String())
		}
	})
	re := regexp.MustCompile(`serving (http://\S+/)`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return strings.Replace(m[1], "HOST", "127.0.0.1", 1)
		}
		if time.Now().After(deadline) {
			t.Fatalf("tl ui did not start: %q %q", out.String(), errb.String())
		}
	}
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// tl ui serves the store of a home with no master, says why there are no
// agents, and refuses an address off loopback without a token.
func TestUI(t *testing.T) {
	home := t.TempDir()
	t.Setenv("TL_HOME", home)
	t.Setenv("TL_UI_TOKEN", "")
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: filepath.Join(home, "store")})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ms.Save(ctx, models.Spec{Name: "ui-model"}, strings.NewReader("w")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}

	if code, _, errOut := runTL("ui", "--addr", "0.0.0.0:0"); code != 2 || !strings.Contains(errOut, "token is required") {
		t.Errorf("tl ui --addr 0.0.0.0:0 without a token: exit %d, %q", code, errOut)
	}
	if code, out, _ := runTL("ui", "--help"); code != 0 || !strings.Contains(out, "--token") || !strings.Contains(out, "Usage:\n  tl ui") {
		t.Errorf("tl ui --help: %d %q", code, out)
	}

	u := startUI(t, "--addr", "127.0.0.1:0")
	if code, body := getBody(t, u+"models"); code != 200 || !strings.Contains(body, "ui-model") {
		t.Errorf("GET /models: %d %s", code, body)
	}
	if code, body := getBody(t, u+"agents"); code != 200 || !strings.Contains(body, "no master runs on "+home) {
		t.Errorf("GET /agents: %d %s", code, body)
	}

	t.Setenv("TL_UI_TOKEN", "from-the-environment")
	u = startUI(t, "--addr", "0.0.0.0:0", "--home", t.TempDir())
	if code, _ := getBody(t, u+"models"); code != http.StatusUnauthorized {
		t.Errorf("GET /models without the token from TL_UI_TOKEN: %d, want 401", code)
	}
}
