// Package queue is the workflow's messaging layer over NATS JetStream.
//
// Two streams, both WorkQueue (a message is gone once acknowledged) and on disk:
//
//	TL_TASKS   tl.tasks.<queue>          tasks, one subject per capability (cpu, cuda, ...)
//	TL_MASTER  tl.master.event.<type>    agents' notifications to the master
//	           tl.master.control.<cmd>   submit, cancel and retry from the CLI
//
// Each task queue has one durable pull consumer, queue-<name>, shared by every agent
// that serves the queue; explicit acknowledgement and an ack deadline (AckWait) make a
// task whose agent died come back. The master reads TL_MASTER through one durable
// consumer, so events and commands sent while it is down wait for it. Publishing
// sets a message id, and the streams keep an hour of ids, so a message re-sent after
// a lost reply is stored once. Cancellation of running tasks is a plain NATS
// broadcast (tl.cancel): it only matters to agents that are up.
//
// StartServer runs nats-server in-process with JetStream on disk: the embedded default
// when the user gives no URL. With ServerConfig.Auth (LoadOrCreateAuth: the key and
// the credentials of the roles master, agent and client in HOME/credentials) every
// client presents Credentials and gets its role's Permissions: only the master
// publishes tasks and sets up streams and consumers; an agent pulls from, and acks
// on, its queues' consumers only; a client sends commands and reads the roster.
// Without it the server listens on loopback only. Connect connects with unbounded reconnection, so that
// clients ride out a server restart.
package queue
