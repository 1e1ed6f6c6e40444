package trainflags

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ExitCode is the exit status for err: 2 for a flag value the command does
// not take, else 1.
func ExitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// Exit writes err on stderr, prefixed "prog: " unless it is already, and
// exits with code.
func Exit(prog string, code int, err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, prog+":") {
		msg = prog + ": " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(code)
}
