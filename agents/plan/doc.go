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
// do not exist and cycles, naming the task and field at fault. The dependency graph
// is a DAG; the functions here are pure: given each task's status they say which
// tasks are ready (all dependencies succeeded), which are blocked by a failure (all
// tasks downstream of it), and what the plan's own status is. The master applies them;
// they hold no state of their own.
package plan
