// Package properties states the laws of idempotent writing and certifies
// writers against them, the way fstest.TestFS certifies a file system:
//
//	func TestMyWriter(t *testing.T) {
//		properties.Certify(t, func() harness.Writer[harness.Order] { return MyWriter{} })
//	}
//
// Each law the writer claims runs as a subtest with a stable name
// (TestMyWriter/ReplayIdempotence, ...). One table (laws.go) holds, per
// law, its smoke scenarios, how its random trials are drawn, what
// exhaustive mode enumerates, the crash points its coverage counts and
// what a violation means.
//
// A law first runs its smoke scenarios: fixed deliveries that expose the
// classic bugs at once (a batch delivered twice, a crash after the last
// commit or between the last two, a zombie stalled before the last
// commit, ...). Then rapid's random trials, or, with Exhaustive, every
// single fault point of a bounded family of scenarios. A trial draws
// batches, runs them once in order without faults (the clean run, cached
// per list of batches), draws the faults from the conversation that clean
// run recorded, runs the scenario with faults in a fresh sandbox and
// compares the states. A violation is confirmed by running it again, then
// shrunk (by rapid, then by simplify.go) to a minimal counterexample,
// reported with the timeline, the diff (-clean +faulty), the sandbox kept
// for inspection and a scenario file that Replay (or idemcheck replay)
// re-runs exactly. A passing fault law whose trials crashed less than
// MinCoverage of the writer's crash points is inconclusive. Laws the
// writer does not claim are skipped with the reason. rapid's own flags
// (-rapid.checks, -rapid.seed, ...) apply.
//
// Check is the error-returning twin, for tools: it returns a Report and
// every violation joined into one error. Check calls may run concurrently,
// each with its own Checks and Seed: rapid reads its settings only from
// its process-global flags, so the random trials of one law at a time per
// process set and read them, under one lock; smoke scenarios, exhaustive
// mode and the rest run concurrently. A server that goes away or restarts
// ends a Check with an error wrapping harness.ErrTargetGone.
//
// One trial, from Certify to its verdict: certify.go (Certify, Check) →
// check.go (checkLaw, trial, judge, verdict) → laws.go (the law's entry)
// → strategies (the draws) → harness/driver.go (harness.Run: the
// deliveries through the fault proxy) → harness/diff.go (Compare).
package properties
