package properties

import (
	"context"

	"github.com/idemcheck/idemcheck/harness/trial"
)

// DefaultParallel is how many trials a check with opts and no Parallel
// runs at once on tg.
func DefaultParallel(ctx context.Context, tg *trial.Target, opts ...Option) int {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	return defaultParallel(ctx, tg, s.perCPU)
}

// WithoutSmoke skips the smoke scenarios, so that a test can measure what
// the random trials find alone.
func WithoutSmoke() Option { return func(s *settings) { s.noSmoke = true } }

// UnsharedRuns runs RetryEquivalence's and CrashAtomicity's trials each
// in runs of their own, the clean runs of batch prefixes each on its own,
// and faultless trials in runs of their own, as before runs were shared,
// so that a test can compare.
func UnsharedRuns() Option { return func(s *settings) { s.unshared = true } }
