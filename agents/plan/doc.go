// Package plan reads training plans and holds the rules by which they run.
//
// A plan is a named list of tasks with dependencies, written in YAML or JSON:
//
//	name: caption
//	tasks:
//	  - id: cnn
//	    kind: train
//	    queue: cuda
//	    input: images
//	    model: cnn
//	    output: image-features
//	    params: {epochs: 3}
//	  - id: rnn
//	    kind: train
//	    deps: [cnn]
//	    input: image-features
//	    model: rnn-decoder
//	    output: captions
//	    max_attempts: 5
//	    timeout: 2h
//
// Parse rejects unknown fields, duplicate or invalid ids, dependencies on tasks that
// do not exist and cycles, naming the line, the task and the field at fault, as
// an *Error:
//
//	plan caption.yaml: line 16: unknown field "dep" in task 2 (id rnn); valid fields
//	are id, kind, queue, input, model, output, params, deps, max_attempts, timeout
//
// A YAML syntax error names the line of the token at fault (or of the bracket
// left open); a JSON plan that is not valid JSON gets the JSON parser's error at
// its line. The dependency graph
// is a DAG; the functions here are pure: given each task's status they say which
// tasks are ready (all dependencies succeeded), which are blocked by a failure (all
// tasks downstream of it), and what the plan's own status is. The master applies them;
// they hold no state of their own.
package plan
