package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/queue"
)

func TestCredentialsRevoke(t *testing.T) {
	home := t.TempDir()
	file := filepath.Join(t.TempDir(), "laptop.json")
	if code, _, errOut := runTL("credentials", "client", "--home", home, "-o", file); code != 0 {
		t.Fatalf("tl credentials client: exit %d: %s", code, errOut)
	}
	c, err := queue.ReadCredentials(file)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := queue.CredentialsID(c.User)
	code, out, errOut := runTL("credentials", "revoke", "--home", home, file)
	if code != 0 || !strings.Contains(out, "revoked "+id) {
		t.Fatalf("tl credentials revoke FILE: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, c.Password) {
		t.Fatal("the password was printed")
	}
	if code, out, _ = runTL("credentials", "revoke", "--home", home, id); code != 0 || !strings.Contains(out, "1 already revoked") {
		t.Fatalf("revoking again by id: exit %d\n%s", code, out)
	}
	if code, out, _ = runTL("credentials", "revoke", "--home", home, "--list"); code != 0 || strings.TrimSpace(out) != id {
		t.Fatalf("tl credentials revoke --list: exit %d: %q; want %s", code, out, id)
	}
	if code, _, errOut = runTL("credentials", "revoke", "--home", home, "nonsense"); code != 2 || !strings.Contains(errOut, "expected a credentials id") {
		t.Fatalf("revoking nonsense: exit %d: %s", code, errOut)
	}
}
