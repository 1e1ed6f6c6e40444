// Package testworld starts what the end-to-end tests share, so that each
// test package does not carry its own copy:
//
//   - child processes of the test binary (Self, Start): agents, masters, NATS
//     nodes, killed with kill -9 (Proc.Kill) or stopped with SIGTERM
//     (Proc.Term), their output kept in a Buffer and logged when a test fails;
//     AgentMain and MasterMain are the bodies such a child runs;
//   - an embedded NATS server with credentials, and clients of each role
//     (StartAuthNATS; StartAuthNATSWith for TLS and other settings), and a
//     self-signed certificate for such a server (SelfSignedCert);
//   - a master or an agent in the test's own process (RunMaster, RunAgent),
//     stopped when the test ends;
//   - polling until a condition holds (Eventually), plan submission
//     (SubmitPlan), the example-plan check (CheckPlans), and a small
//     synthetic image dataset in the store (Bands).
//
// Only tests import it. It imports the agents and store packages and nothing
// that imports them back, so that a package's own tests (package mltasks,
// package ui) may use it too.
package testworld
