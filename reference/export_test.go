package reference

import "github.com/idemcheck/idemcheck/harness/trial"

// Exported for the external tests (benchmarks and examples), which also use
// package antipatterns and so cannot live in package reference.
func SharedTarget() *trial.Target { return target }
