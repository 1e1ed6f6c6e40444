package plan_test

import (
	"fmt"

	"github.com/tlgo/tl/agents/plan"
)

// The paper's two-stage plan: a CNN first, then an RNN decoder on its features.
func ExampleParse() {
	s, err := plan.Parse([]byte(`
name: caption
tasks:
  - {id: cnn, kind: train, queue: cuda, input: images, model: cnn, output: features}
  - {id: rnn, kind: train, deps: [cnn], input: features, model: rnn, output: captions}
`), "caption.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	st := map[string]plan.Status{"cnn": plan.Pending, "rnn": plan.Pending}
	fmt.Println("ready:", plan.Ready(s, st))
	st["cnn"] = plan.Succeeded
	fmt.Println("then:", plan.Ready(s, st))
	st["cnn"] = plan.Failed
	fmt.Println("a failed cnn blocks:", plan.Downstream(s, "cnn"))
	// Output:
	// ready: [cnn]
	// then: [rnn]
	// a failed cnn blocks: [rnn]
}
