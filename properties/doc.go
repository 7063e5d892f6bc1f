// Package properties states the laws of idempotent writing and certifies
// writers against them, the way fstest.TestFS certifies a file system:
//
//	func TestMyWriter(t *testing.T) {
//		properties.Certify(t, func() harness.Writer[harness.Order] { return MyWriter{} })
//	}
//
// A writer of other records certifies with CertifyRecords (or
// CheckRecords) and the Records that draw them, Draw(gen), which share
// the writer's type parameter.
//
// Each law the writer claims runs as a parallel subtest with a stable
// name (TestMyWriter/ReplayIdempotence, ...). One table (laws.go) holds,
// per law, its smoke scenarios, how its random trials are drawn, what
// exhaustive mode enumerates, the crash points its coverage counts and
// what a violation means.
//
// A law first runs its smoke scenarios: fixed deliveries that expose the
// classic bugs at once (a batch delivered twice, a crash after the last
// commit or between the last two, a zombie stalled before the last commit,
// ...). Then its random trials, or, with Exhaustive, every single fault
// point of a bounded family of scenarios. A trial draws batches, runs them
// once in order without faults (the clean run, cached per list of batches;
// when CrashAtomicity is checked it also snapshots the state after each
// batch, the clean states of the batches' prefixes), draws the faults from
// the conversation that clean run recorded, runs the scenario with faults in
// a sandbox as the writer's Setup left it (a fresh one, or one a run was
// done with, restored: trial.Reuse) and compares the states. A violation is
// confirmed by running it again, then shrunk (simplify.go) to a minimal
// counterexample, reported with the timeline, the diff (-clean +faulty), the
// sandbox kept for inspection (each violated law keeps its own, unless
// DiscardFaultyStates) and a
// scenario file that Replay (or idemcheck replay) re-runs exactly. A passing
// fault law whose trials crashed less than MinCoverage of the writer's crash
// points is inconclusive. Laws the writer does not claim are skipped with
// the reason.
//
// rapid reads its own settings only from process-global flags, so Check
// never runs rapid.Check: it draws from rapid's generators itself
// (search.go). Trial i of a run with seed S draws with a seed made of S and
// i, the same for every law (every law's trial i delivers the same batches,
// whose clean run is shared; RetryEquivalence and CrashAtomicity, which draw
// the same faults, judge one run per trial together). Trials are pure
// functions of (S, i): laws run concurrently, up to Parallel trials at a
// time, and they are counted in order, so verdicts, trial counts and
// counterexamples do not depend on Parallel, and a run can be split into
// parts (Sharded) and merged (Merge). Concurrent Check calls are
// independent, each with its own Checks, Seed and ShrinkTime; Certify reads
// -rapid.checks, -rapid.seed and -rapid.shrinktime as its defaults (it never
// sets a flag).
//
// Check is the error-returning twin, for tools: it returns a Report and
// every violation joined into one error. Findings that settle the whole
// certificate stop the other laws' trials and are then applied to every
// law by one rule (settleLaws), the same for Certify, Check and Merge:
// two clean runs that differ (the other laws are NotRun), a writer that
// fails without faults (ErrWriterFails; the other laws are inconclusive),
// a server that goes away or restarts (trial.ErrTargetGone; every law is
// inconclusive). A LawReport says what its failure is about as a
// FailureKind; sentences are made in one place (finding.go) and compared
// nowhere.
//
// One trial, from Certify to its verdict, file by file:
//
//   - certify.go: Certify (or Check) makes the checker (checker.go) and
//     calls checkLaws (settle.go), which runs checkLaw for every law.
//   - law.go: checkLaw is the law's pipeline: searchLaw, then simplify,
//     then report. searchLaw runs the smoke scenarios (smoke, through
//     wave) and then search.
//   - search.go: search draws trial i (draw: its batches, their clean run
//     from cleanrun.go, its deliveries from the law's entry in laws.go,
//     whose draw is a strategies generator) and runs it in window, which
//     holds one of the check's Parallel slots (runTrial) and calls the
//     judge.
//   - judge.go: judgeTrial (a run shared by RetryEquivalence and
//     CrashAtomicity when both are checked) or judge runs the scenario
//     (checker.run: harness/trial/driver.go's trial.Run, every attempt
//     through the fault proxy of package faults) and verdict compares it
//     with the clean run (harness/trial/diff.go's trial.Compare), making
//     a finding (finding.go).
//   - search.go: settle counts the outcomes in trial order in the law's
//     tally (tally.go) and confirms the first failure (confirm.go: run
//     again, clean runs compared); counterexample (confirm.go) keeps its
//     sandbox (keep.go) and saves its scenario (scenario.go).
//   - simplify.go: simplify shrinks the failure, running candidates
//     through wave and judge again.
//   - law.go: report makes the LawReport (report.go); haltOthers stops the
//     other laws if the finding settles the certificate; settle.go's
//     settleLaws applies it to every law once all are done, and Certify's
//     subtest reports its law.
//
// Consumers (CertifyConsumer, CheckConsumer: a long-running program that
// reads Kafka itself, package harness/consumer) have a pipeline of their
// own over the same report: consumer.go (the API and which laws apply),
// consumerlaw.go (Determinism first, then the other laws together, each
// its smoke scenarios and then its random trials Parallel at a time,
// judged in trial order, the first failure shrunk), consumertrial.go (the
// clean-run cache, the draws, judging against the clean run, shrinking)
// and consumercoverage.go; finding.go names their findings (LostRows,
// DuplicatedRows, WrongValues, NeverCaughtUp).
//
// Exhaustive mode replaces search by explore (explore.go); Merge
// (merge.go) joins the parts of a sharded run and settles them the same
// way.
package properties
