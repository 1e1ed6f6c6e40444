// Package e2e holds the workflow module's end-to-end tests: real nats-server
// (embedded, or a separately started one named by TL_TEST_NATS_URL), real FerretDB
// (package store), and agents and masters as separate processes where the test is
// about processes: kill -9 of an agent mid-task, a master killed mid-plan, the NATS
// server restarted with tasks pending, SIGTERM of an agent, an always-failing task,
// malformed messages, a two-stage plan and a fan-out plan over three agents. The
// README's plan runs as written there (read from README.md) with the real train
// and evaluate kinds in an in-process agent, and its model's curves are read back.
//
// The test binary doubles as the agent and master programs: run with TL_E2E_ROLE set
// to "agent" or "master", its TestMain runs that role instead of the tests, with the
// test task functions of this package registered. There is no non-test code here.
package e2e
