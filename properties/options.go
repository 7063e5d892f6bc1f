package properties

import (
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/strategies"
	"pgregory.net/rapid"
)

// Option configures Certify, Check and Replay.
type Option func(*settings)

type settings struct {
	target      *harness.Target
	laws        []harness.Law
	claim       []harness.Law
	checks      int
	seed        uint64
	records     any // *rapid.Generator[R]
	partition   any // func(R) string
	compare     []harness.CompareOption
	limits      strategies.Limits
	maxAttempts int
	scenarioDir string
	sandbox     []harness.SandboxOption
	writerName  string
	progress    func(law harness.Law, trials int, faults map[string]int)
	exhaustive  *Bounds
	minCov      *float64
	noSmoke     bool // tests only: measure the random trials alone
	failFast    bool
}

// DefaultMinCoverage is the least fraction of a writer's crash points a
// passing fault law must have crashed, unless MinCoverage says otherwise.
const DefaultMinCoverage = 0.5

func (s settings) minCoverage() float64 {
	if s.minCov != nil {
		return *s.minCov
	}
	return DefaultMinCoverage
}

// OnTarget runs the trials on tg instead of opening a target by the
// default chain (and closing it at the end).
func OnTarget(tg *harness.Target) Option { return func(s *settings) { s.target = tg } }

// Laws restricts the check to these laws (of those the writer claims).
func Laws(laws ...harness.Law) Option { return func(s *settings) { s.laws = laws } }

// Claim makes the writer claim exactly these laws, whatever its Claims
// method says: for certifying writers that cannot say (external ones) and
// for showing that a broken writer is caught.
func Claim(laws ...harness.Law) Option { return func(s *settings) { s.claim = laws } }

// Checks sets the number of random trials per law for Check, after the
// law's smoke scenarios (Certify follows -rapid.checks). Concurrent Check
// calls each keep their own checks and seed: rapid reads them from its
// process-global flags, so the random trials of one law run at a time per
// process (see the package documentation).
func Checks(n int) Option { return func(s *settings) { s.checks = n } }

// Seed sets rapid's seed for Check (0: rapid's own, from -rapid.seed or
// random), so that a run can be repeated. Certify follows -rapid.seed.
func Seed(s uint64) Option { return func(st *settings) { st.seed = s } }

// Records draws the writer's records; needed unless R is harness.Order.
func Records[R any](gen *rapid.Generator[R]) Option { return func(s *settings) { s.records = gen } }

// PartitionBy certifies the writer with a partition field: every batch is
// one whole partition, and a partition delivered again carries what it had
// plus newer records.
func PartitionBy[R any](partition func(R) string) Option {
	return func(s *settings) { s.partition = partition }
}

// Compare passes options to the state comparison (ignored columns, surrogate
// keys).
func Compare(opts ...harness.CompareOption) Option {
	return func(s *settings) { s.compare = append(s.compare, opts...) }
}

// Sandboxes passes options to every trial's sandbox, e.g.
// harness.WithMode(harness.DatabaseSandbox) for a database per trial.
func Sandboxes(opts ...harness.SandboxOption) Option {
	return func(s *settings) { s.sandbox = append(s.sandbox, opts...) }
}

// WithLimits bounds the generated scenarios.
func WithLimits(l strategies.Limits) Option { return func(s *settings) { s.limits = l } }

// ScenarioDir is where counterexample scenario files are written (default
// testdata/idemcheck under the working directory).
func ScenarioDir(dir string) Option { return func(s *settings) { s.scenarioDir = dir } }

// WriterName names the writer in reports (default: its Go type).
func WriterName(name string) Option { return func(s *settings) { s.writerName = name } }

// Progress is called after every trial with the law, the trials so far and
// the faults fired so far, for progress displays.
func Progress(fn func(law harness.Law, trials int, faults map[string]int)) Option {
	return func(s *settings) { s.progress = fn }
}

// MinCoverage sets the least fraction (0..1) of the writer's crash points
// (see Coverage) that the trials of a passing fault law must have crashed;
// below it the law is inconclusive and the points never crashed are
// named. Default DefaultMinCoverage; 0 turns the check off.
func MinCoverage(f float64) Option { return func(s *settings) { s.minCov = &f } }

// Exhaustive replaces the random trials by bounded exhaustive exploration:
// for the smoke scenarios' batches and b.BatchSets drawn batch lists,
// every single fault point of every delivery (crash before and after each
// round, after each commit as an ambiguous commit, inside each COPY after
// each CopyData, each synthetic error at each round; for ZombieSafety a
// stall at each round), each followed by retries until ack, then double
// faults up to b.DoubleFaults (DefaultBounds are the CLI's). The law's report names what was explored
// (LawReport.Explored). What it does not cover: batch lists outside the
// family, triple faults, faults in more than one delivery at once.
func Exhaustive(b Bounds) Option { return func(s *settings) { s.exhaustive = &b } }

// FailFast makes Check stop at the first violated law: the laws after it
// are reported NotRun. (Check always stops once two clean runs differ:
// every other verdict would be noise.)
func FailFast() Option { return func(s *settings) { s.failFast = true } }
