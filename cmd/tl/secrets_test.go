package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/internal/testworld"
)

// knownPassword is in every URL given to the commands below: it must appear
// in nothing they print, nor in any file of the home others may read.
const knownPassword = "Pa55-w0rd-7Q1xZ"

// A master, a local agent, a remote agent with a credentials file, submit,
// status and failures with URLs that hold a password: no password or key
// (the URLs', the credentials') shows in anything printed, the home's files
// are this user's only, and the remote agent pulls only with its file
// (issue 13).
func TestSecretsNeverPrinted(t *testing.T) {
	tl, agentBin := buildBinaries(t)
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o755); err != nil { // narrowed by the master
		t.Fatal(err)
	}
	env := append(os.Environ(), "TL_HOME="+home, "TL_NATS_URL=", "TL_MONGO_URL=", "TL_CREDENTIALS=")
	var printed []*bytes.Buffer // everything any command printed
	runCmd := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		printed = append(printed, bytes.NewBuffer(out))
		return string(out), err
	}
	master := startLogged(t, env, tl, "master", "--nats-listen", "127.0.0.1:0", "--mongo-listen", "127.0.0.1:0", "--tick", "500ms")
	waitEndpoints(t, home, master)
	ep := mustEndpoints(t, home)
	secrets := []string{knownPassword}
	for _, role := range []string{queue.RoleMaster, queue.RoleAgent, queue.RoleClient} {
		c, err := queue.HomeCredentials(home, role)
		if err != nil {
			t.Fatalf("the master wrote no %s credentials: %v", role, err)
		}
		secrets = append(secrets, c.Password)
	}
	key, err := os.ReadFile(filepath.Join(home, queue.CredentialsDir, "nats.key"))
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, strings.TrimSpace(string(key)))

	// Without credentials nothing gets in, even with the right URL.
	env = append(env, "TL_HOME="+t.TempDir())
	if out, err := runCmd(tl, "cancel", "p-1", "--nats", ep.NATS); err == nil || !strings.Contains(out, "Authorization") {
		t.Errorf("tl cancel without credentials: %v\n%s", err, out)
	}
	env = env[:len(env)-1]

	localOut := startLogged(t, env, agentBin, "--grace", "1s", "--id", "local-1", "--queues", "cpu").Out
	// A remote agent: its own credentials file, for queue gpu only.
	remoteCreds := filepath.Join(t.TempDir(), "gpu1.json")
	out, err := runCmd(tl, "credentials", "agent", "--queues", "gpu", "-o", remoteCreds)
	if err != nil || !strings.Contains(out, "wrote the credentials of an agent of queues gpu to "+remoteCreds) {
		t.Fatalf("tl credentials agent: %v\n%s", err, out)
	}
	rc, err := queue.ReadCredentials(remoteCreds)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rc.Password)
	if info, err := os.Stat(remoteCreds); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("credentials file %s: %v, mode %v; want 0600", remoteCreds, err, info.Mode())
	}
	otherHome := t.TempDir() // no endpoints there: the agent is remote
	remoteOut := startLogged(t, append(env, "TL_HOME="+otherHome), agentBin, "--nats", ep.NATS, "--credentials", remoteCreds, "--home", otherHome, "--queues", "gpu", "--grace", "1s", "--id", "remote-1").Out

	planFile := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(planFile, []byte(`name: sec
tasks:
  - {id: a, kind: noop}
  - {id: g, kind: noop, queue: gpu, deps: [a]}
  - {id: f, kind: fail, deps: [a], max_attempts: 1, params: {message: failed on purpose}}
`), 0o644)
	out, err = runCmd(tl, "submit", "--wait", planFile)
	if err == nil || !strings.Contains(out, "failed on purpose") {
		t.Fatalf("tl submit --wait: %v\n%s", err, out)
	}
	id := strings.Fields(strings.SplitN(out, "submitted plan ", 2)[1])[0]
	out, _ = runCmd(tl, "status", id, "--json")
	var view struct {
		Tasks []struct {
			ID, Status, Agent string
		}
	}
	_ = json.Unmarshal([]byte(out), &view)
	ranOn := map[string]string{}
	for _, tk := range view.Tasks {
		ranOn[tk.ID] = tk.Status + " on " + tk.Agent
	}
	if ranOn["g"] != "succeeded on remote-1" || ranOn["a"] != "succeeded on local-1" {
		t.Errorf("tasks ran %v; want a on local-1, g on remote-1 (tl status --json:\n%s)", ranOn, out)
	}
	runCmd(tl, "status")
	runCmd(tl, "status", id)

	// Failures with a password in the URL, or a wrong password in a file.
	bad := "tl:" + knownPassword + "@127.0.0.1:1"
	wrong := filepath.Join(t.TempDir(), "wrong.json")
	if err := queue.WriteCredentials(wrong, &queue.Credentials{Role: queue.RoleClient, User: "client:0123456789abcdef", Password: knownPassword}); err != nil {
		t.Fatal(err)
	}
	wrongAgent := filepath.Join(t.TempDir(), "wrong-agent.json")
	if err := queue.WriteCredentials(wrongAgent, &queue.Credentials{Role: queue.RoleAgent, User: "agent:0123456789abcdef:cpu", Password: knownPassword}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{tl, "status", "--nats", "nats://" + bad, "--mongo", "mongodb://" + bad + "/tl"},
		{tl, "submit", "--nats", "nats://" + bad, planFile},
		{tl, "cancel", id, "--nats", "nats://" + bad},
		{tl, "models", "--mongo", "postgres://" + bad + "/tl"},
		{tl, "status", "--credentials", wrong},
		{tl, "master", "--home", t.TempDir(), "--nats", "nats://" + bad, "--mongo", "mongodb://" + bad + "/tl"},
		{agentBin, "--nats", "nats://" + bad, "--connect-wait", "1s", "--home", otherHome},
		{agentBin, "--nats", ep.NATS, "--mongo", "postgres://" + bad + "/tl", "--connect-wait", "1s", "--credentials", remoteCreds},
		{agentBin, "--nats", ep.NATS, "--credentials", wrong, "--connect-wait", "1s"}, // a client's: not an agent's
		{agentBin, "--nats", ep.NATS, "--credentials", wrongAgent, "--connect-wait", "1m"},
	} {
		start := time.Now()
		out, err := runCmd(args[0], args[1:]...)
		if args[0] == agentBin && args[len(args)-3] == wrongAgent && (!strings.Contains(out, "refused the credentials from "+wrongAgent) || time.Since(start) > 20*time.Second) {
			t.Errorf("an agent with a wrong password: after %v\n%s\nwant at once: refused the credentials from %s", time.Since(start), out, wrongAgent)
		}
		// tl status shows the store's plans even when NATS refuses it, and says why.
		if err == nil && !(args[1] == "status" && strings.Contains(out, "Authorization Violation")) {
			t.Errorf("%s: succeeded; want a failure\n%s", strings.Join(args[1:], " "), out)
		}
	}

	// The home while the master runs: nothing for group or others.
	checkPrivate(t, home, secrets)
	_ = master.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-master.Done:
	case <-time.After(60 * time.Second):
		t.Error("master still running 60s after SIGTERM")
	}
	printed = append(printed, bytes.NewBufferString(master.Out.String()), bytes.NewBufferString(localOut.String()), bytes.NewBufferString(remoteOut.String()))
	for i, b := range printed {
		for _, s := range secrets {
			if strings.Contains(b.String(), s) {
				t.Errorf("output %d shows a secret (%.4s...):\n%s", i, s, b.String())
			}
		}
	}
	if !strings.Contains(remoteOut.String(), "using NATS credentials") {
		t.Errorf("the remote agent does not say it uses its credentials:\n%s", remoteOut.String())
	}
	checkPrivate(t, home, secrets)
}

// checkPrivate walks home: no file or folder is open to others, the home,
// its credentials folder and the files in it are the owner's only, and no
// file others could read holds a secret.
func checkPrivate(t *testing.T, home string, secrets []string) {
	t.Helper()
	want := map[string]os.FileMode{
		home: 0o700, filepath.Join(home, queue.CredentialsDir): 0o700,
		filepath.Join(home, queue.CredentialsDir, "nats.key"): 0o600,
		filepath.Join(home, endpoints.LockFile):               0o600,
	}
	for _, r := range []string{queue.RoleMaster, queue.RoleAgent, queue.RoleClient} {
		want[filepath.Join(home, queue.CredentialsDir, r+".json")] = 0o600
	}
	if _, err := os.Stat(filepath.Join(home, endpoints.File)); err == nil {
		want[filepath.Join(home, endpoints.File)] = 0o600
	}
	n := 0
	err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		n++
		perm := info.Mode().Perm()
		if w, ok := want[path]; ok && perm != w {
			t.Errorf("%s: mode %o; want %o", path, perm, w)
		}
		if perm&0o007 != 0 {
			t.Errorf("%s: mode %o is open to others", path, perm)
		}
		if perm&0o004 != 0 && info.Mode().IsRegular() {
			data, _ := os.ReadFile(path)
			for _, s := range secrets {
				if bytes.Contains(data, []byte(s)) {
					t.Errorf("%s, readable by others, holds a secret", path)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("walked %d entries of %s; want the whole home", n, home)
	}
}

// tl master --tls-cert --tls-key: the local commands reach it over TLS, the
// certificate pinned by their credentials (issue 13).
func TestMasterTLS(t *testing.T) {
	home := t.TempDir()
	t.Setenv("TL_HOME", home)
	t.Setenv("TL_NATS_URL", "")
	t.Setenv("TL_MONGO_URL", "")
	t.Setenv("TL_CREDENTIALS", "")
	certFile, keyFile := testworld.SelfSignedCert(t, t.TempDir())
	ctx, stop := context.WithCancel(context.Background())
	var mout, merr testworld.Buffer
	masterDone := make(chan int, 1)
	go func() {
		masterDone <- run(ctx, []string{"master", "--home", home, "--nats-listen", "127.0.0.1:0", "--mongo-listen", "127.0.0.1:0",
			"--tls-cert", certFile, "--tls-key", keyFile}, &mout, &merr)
	}()
	defer func() {
		stop()
		<-masterDone
		if t.Failed() {
			t.Logf("master output:\n%s%s", mout.String(), merr.String())
		}
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := endpoints.Read(home); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no endpoints file after 60s")
		}
	}
	var code int
	var out, errOut string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, out, errOut = runTL("status", "--home", home); code != 0 || strings.Contains(out, " leads (host ") {
			break
		}
	}
	if code != 0 || !strings.Contains(out, " leads (host ") {
		t.Errorf("tl status over TLS: exit %d\n%s%s", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "client.json")
	if code, _, errOut := runTL("credentials", "client", "-o", file, "--home", home); code != 0 {
		t.Fatalf("tl credentials client: exit %d %s", code, errOut)
	}
	c, err := queue.ReadCredentials(file)
	cert, _ := os.ReadFile(certFile)
	if err != nil || c.CA != string(cert) {
		t.Errorf("credentials made for a TLS master do not carry its certificate (%v)", err)
	}
	// Without the certificate the same password gets nowhere.
	c.CA = ""
	bare := filepath.Join(t.TempDir(), "bare.json")
	if err := queue.WriteCredentials(bare, c); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runTL("cancel", "p-1", "--nats", mustEndpoints(t, home).NATS, "--credentials", bare); code == 0 {
		t.Errorf("credentials without the certificate reached the TLS server:\n%s", out)
	}
}
