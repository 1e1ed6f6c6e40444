package redact_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tlgo/tl/internal/redact"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"mongodb://user:s3cret@db.example:27017/tl", "mongodb://user:xxxxx@db.example:27017/tl"},
		{"nats://agent:pa%40ss@10.0.0.1:4222", "nats://agent:xxxxx@10.0.0.1:4222"},
		{"postgres://tl:tl@127.0.0.1:5432/tl_test?sslmode=disable", "postgres://tl:xxxxx@127.0.0.1:5432/tl_test?sslmode=disable"},
		{"mongodb://user@host/", "mongodb://user@host/"},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"", ""},
	} {
		if got := redact.URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestURLMalformed(t *testing.T) {
	// url.Parse fails on the bad port, but the password must still go.
	got := redact.URL("mongodb://user:topsecret@host:99999999999x/")
	if strings.Contains(got, "topsecret") {
		t.Fatalf("URL kept the password of a malformed URL: %q", got)
	}
}

func TestText(t *testing.T) {
	in := `connect to mongodb://admin:hunter2@db:27017/x failed; tried "nats://a:b%20c@n1:4222" and postgres://u:p@ss@h/db`
	got := redact.Text(in)
	for _, secret := range []string{"hunter2", "b%20c", "p@ss"} {
		if strings.Contains(got, secret) {
			t.Errorf("Text kept %q: %s", secret, got)
		}
	}
	for _, keep := range []string{"admin:xxxxx@db:27017/x", "nats://a:xxxxx@n1:4222", "failed; tried"} {
		if !strings.Contains(got, keep) {
			t.Errorf("Text lost %q: %s", keep, got)
		}
	}
}

func TestError(t *testing.T) {
	base := errors.New("dial mongodb://u:hunter2@h:1/: refused")
	err := fmt.Errorf("store: %w", redact.Error(base))
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Error kept the password: %v", err)
	}
	if !errors.Is(err, base) {
		t.Fatal("Error does not unwrap to the original error")
	}
	if redact.Error(nil) != nil {
		t.Fatal("Error(nil) != nil")
	}
}
