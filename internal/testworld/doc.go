// Package testworld starts what the end-to-end tests share: child processes
// of the test binary (agents, masters, NATS nodes) that are killed with
// kill -9 when a test ends, an embedded NATS server with credentials and
// clients of each role, an in-process master, polling until a condition
// holds, and a small synthetic image dataset in the store.
//
// Only tests import it (agents/e2e, sweep, rl/dist, mltasks, ui). It imports
// the agents and store packages and nothing that imports them back, so that
// a package's own tests (package mltasks, package ui) may use it too.
package testworld
