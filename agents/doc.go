// Package agents is the workflow module: training tasks on persistent queues,
// agents on CPU and GPU nodes that pull them, and a master that runs training plans.
//
// It follows section 2.4 of the TensorLayer paper. A task is identified by an input
// dataset, a model and an output dataset; the master puts it on a task queue, an agent
// pulls and runs it, and the agent's notification goes back to the master on a
// notification queue. Several tasks with dependencies form a training plan, a DAG
// the master schedules: for example a CNN trained first, then an RNN decoder that
// reads the CNN's features. Queues are persistent, so a failed task is replayed.
//
// The paper's reference implementation ran Python scripts stored in the database and
// left a crashed task "running" forever. This one is safe and self-healing:
//
//   - no code travels: an agent runs only Go functions registered in its binary by
//     name (package task), and rejects a message it cannot decode;
//   - queues are NATS JetStream WorkQueue streams with explicit acks (package queue);
//     an agent pulls one task at a time and reports progress while it works, and a
//     task whose agent dies is redelivered when its ack deadline passes;
//   - a task that keeps failing is retried a bounded number of times, then marked
//     failed with its error, and the plan says which tasks it blocks;
//   - notifications are a stream too, and the master records every state change in
//     MongoDB (package status), so a master restarted mid-plan loses nothing;
//   - on the embedded server every client presents credentials of a role (master,
//     agent, client) whose permissions say what it may publish and read: only the
//     master publishes tasks, an agent pulls only from its queues, and a notification
//     counts only with the token the master put in the task it is about.
//
// The sub-packages, one idea each:
//
//	task       the wire messages, the registry of task functions
//	plan       plan files (YAML or JSON), validation, the DAG's scheduling rules
//	queue      NATS: the embedded server, streams, consumers, subjects
//	status     where the master records plans and tasks (MongoDB, or memory)
//	endpoints  the file through which a local master tells agents where it is
//	agent      the agent runtime behind cmd/tl-agent (agent.Main: build your own agent)
//	builtin    kinds every agent here has: noop, sleep, fail
//	master     the master runtime behind `tl master`
//	e2e        tests with real servers and real processes
//	bench      dispatch throughput, failure detection, the paper's Figure 2
package agents
