package properties

// WithoutSmoke skips the smoke scenarios, so that a test can measure what
// the random trials find alone.
func WithoutSmoke() Option { return func(s *settings) { s.noSmoke = true } }
