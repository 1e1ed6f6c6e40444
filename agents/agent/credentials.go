package agent

import (
	"errors"
	"fmt"
	"os"

	"github.com/tlgo/tl/agents/queue"
)

// credentials finds the agent's credentials for the NATS server: the file
// given (--credentials, else TL_CREDENTIALS), else, when the server is the
// local master's, the agent credentials it wrote beside its endpoints
// (HOME/credentials/agent.json). None is not an error: a server without
// users needs none. It returns where they came from, for the log.
func credentials(path, home string, local bool) (*queue.Credentials, string, error) {
	if path == "" {
		path = os.Getenv("TL_CREDENTIALS")
	}
	if path != "" {
		c, err := queue.ReadCredentials(path)
		if err != nil {
			return nil, "", fmt.Errorf("--credentials: %w (make one on the master's machine with: tl credentials agent --queues QUEUES -o FILE)", err)
		}
		if c.Role != "" && c.Role != queue.RoleAgent {
			return nil, "", fmt.Errorf("--credentials %s: %s credentials; an agent needs an agent's (tl credentials agent)", path, c.Role)
		}
		return c, path, nil
	}
	if !local || home == "" {
		return nil, "", nil
	}
	c, err := queue.HomeCredentials(home, queue.RoleAgent)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil // a master from before credentials
	}
	if err != nil {
		return nil, "", err
	}
	return c, "the local master", nil
}
