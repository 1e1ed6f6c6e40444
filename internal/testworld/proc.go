package testworld

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that several goroutines may write: a child's
// stdout and stderr, a server's log.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is a child process: an agent, a master, a NATS node.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Out  *Buffer       // stdout and stderr together
	Done chan struct{} // closed once it has exited
	Err  error         // Wait's answer; read it after Done is closed
}

// Self is a command that runs this test binary with no test, env added to
// this process's environment: the test's TestMain picks the child's role
// from env.
func Self(env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// Start starts cmd. When the test ends it is killed (kill -9), and its
// output is logged if the test failed or TL_TEST_VERBOSE is set.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Name: name, Cmd: cmd, Out: &Buffer{}, Done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.Err = cmd.Wait(); close(p.Done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() || os.Getenv("TL_TEST_VERBOSE") != "" {
			t.Logf("--- output of %s ---\n%s", name, p.Out.String())
		}
	})
	return p
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *Proc) Kill() {
	select {
	case <-p.Done:
		return
	default:
	}
	_ = p.Cmd.Process.Kill()
	<-p.Done
}

// Term sends SIGTERM and waits up to patience for the process to exit. It
// answers an error if the process is still running then, or exited other
// than with 0.
func (p *Proc) Term(patience time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
	case <-time.After(patience):
		return fmt.Errorf("%s still running %v after SIGTERM", p.Name, patience)
	}
	if p.Err != nil {
		return fmt.Errorf("%s exited with %w after SIGTERM; want 0", p.Name, p.Err)
	}
	return nil
}
