// Package properties states the laws of idempotent writing as rapid
// properties and certifies writers against them, the way fstest.TestFS
// certifies a file system:
//
//	func TestMyWriter(t *testing.T) {
//		properties.Certify(t, func() harness.Writer[harness.Order] { return MyWriter{} })
//	}
//
// Each law the writer claims runs as a subtest with a stable name
// (TestMyWriter/ReplayIdempotence, ...), a rapid property over generated
// scenarios: it runs the scenario with faults in a fresh sandbox, runs the
// same batches once, in order, without faults (the clean run, cached per
// set of batches) and compares the states. A violation is confirmed by
// running it again, then shrunk by rapid to a minimal counterexample,
// reported with the timeline, the diff (-clean +faulty), the sandbox kept
// for inspection and a scenario file that Replay (or idemcheck replay)
// re-runs exactly. Laws the writer does not claim are skipped with the
// reason. rapid's own flags (-rapid.checks, -rapid.seed, ...) apply.
//
// Check is the error-returning twin, for tools: it returns a Report and
// every violation joined into one error.
package properties
