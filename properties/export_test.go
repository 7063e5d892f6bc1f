package properties

// WithoutSmoke skips the smoke scenarios, so that a test can measure what
// the random trials find alone.
func WithoutSmoke() Option { return func(s *settings) { s.noSmoke = true } }

// SeparateCrashRuns runs RetryEquivalence's and CrashAtomicity's trials
// each in runs of their own, as they were before they shared them, so that
// a test can compare.
func SeparateCrashRuns() Option { return func(s *settings) { s.separateRuns = true } }
