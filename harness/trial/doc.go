// Package trial runs writers (harness.Writer) against a real PostgreSQL
// and tells exactly how two table states differ: the machinery under
// package properties, kept out of the writer's contract.
//
// A Target is a server to test on, found by OpenTarget's chain: an
// existing server (IDEMCHECK_DATABASE_URL), an ephemeral cluster from local
// binaries, or a container from testcontainers-go. Each run gets its own
// Sandbox (a schema, or a database), dropped when the trial passes and kept
// when it fails, or, with a Reuse, emptied and checked to be exactly as the
// writer's Setup left it and handed to a later run of the same writer
// (SandboxesFrom, Sandbox.Release); a Target drops only what its own run
// created, also on SIGINT, SIGTERM, SIGHUP and SIGPIPE, and reaps what
// killed runs left behind.
// Writers never connect as the Target's user: each run creates a role that
// can log in and owns the run's sandboxes, nothing else (or takes the one
// WriterRole names), and every writer connection (Sandbox.ConnConfig,
// ConnString, Connect) logs in as it; snapshots use the harness's own
// connection. Target.Alive tells whether the server is still the one the
// run started on (ErrTargetGone when it went away or restarted).
//
// Run plays a harness.Scenario (batches, deliveries, per-attempt fault
// plans, lost acks, zombies) against a writer, every attempt through the
// fault proxy (package faults), and returns an Observation: the final
// state, the state after each crash, a timeline of every attempt (Step,
// with its Outcome) and round, and where the time went (Phases).
//
// Snapshot reads every user table of a sandbox as a multiset of canonical
// rows; Compare says which rows are missing, extra or changed, as a go-cmp
// diff titled (-clean +faulty), with go-cmp-style options (IgnoreColumns,
// ModuloSurrogateKeys, MaxDiffLines).
package trial
