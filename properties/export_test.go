package properties

// WithoutSmoke skips the smoke scenarios, so that a test can measure what
// the random trials find alone.
func WithoutSmoke() Option { return func(s *settings) { s.noSmoke = true } }

// UnsharedRuns runs RetryEquivalence's and CrashAtomicity's trials each
// in runs of their own, the clean runs of batch prefixes each on its own,
// and faultless trials in runs of their own, as before runs were shared,
// so that a test can compare.
func UnsharedRuns() Option { return func(s *settings) { s.unshared = true } }
