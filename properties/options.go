package properties

import (
	"fmt"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/rabbitmq"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/strategies"
	"pgregory.net/rapid"
)

// Option configures Certify, Check, their Records twins and Replay.
type Option func(*settings)

type settings struct {
	target      *trial.Target
	laws        []harness.Law
	claim       []harness.Law
	checks      int    // 0: the default budget (DefaultMinChecks, until covered, at most DefaultChecks)
	minChecks   int    // >0: a law stops after this many random trials once it is covered (the default budget)
	seed        uint64 // 0: a random one
	parallel    int    // 0: defaultParallel
	perCPU      int    // defaultParallel's trials per CPU (0: 2)
	shrinkTime  time.Duration
	compare     []trial.CompareOption
	limits      strategies.Limits
	scenarioDir string
	sandbox     []trial.SandboxOption
	fresh       bool // every run in a new sandbox, with its own Setup
	writerName  string
	progress    func(law harness.Law, trials int, faults map[Injection]int)
	exhaustive  *Bounds
	minCov      *float64
	noSmoke     bool // tests only: measure the random trials alone
	// unshared (tests only): RetryEquivalence and CrashAtomicity run
	// their trials each in runs of their own, the clean states of batch
	// prefixes come from runs of their own, and faultless trials run.
	unshared bool
	failFast bool
	shard    Shard
	// discardFaulty: no sandbox is kept for inspection
	// (DiscardFaultyStates).
	discardFaulty bool
	// kafka and broker: where consumer trials run (Kafka, OnBroker); or
	// on JetStream (NATS, OnNATS; useNATS: the embedded server).
	kafka   []string
	broker  *kafka.Broker
	useNATS bool
	natsURL string
	nats    *natsjs.Server
	// useAMQP: on RabbitMQ (AMQP, OnAMQP).
	useAMQP bool
	amqpURL string
	rabbit  *rabbitmq.Server
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
func OnTarget(tg *trial.Target) Option { return func(s *settings) { s.target = tg } }

// Laws restricts the check to these laws (of those the writer claims).
func Laws(laws ...harness.Law) Option { return func(s *settings) { s.laws = laws } }

// Claim makes the writer claim exactly these laws, whatever its Claims
// method says: for certifying writers that cannot say (external ones) and
// for showing that a broken writer is caught.
func Claim(laws ...harness.Law) Option { return func(s *settings) { s.claim = laws } }

// The default budget of random trials per law, unless Checks sets one: a
// law runs DefaultMinChecks random trials after its smoke scenarios, and
// goes on until every class of crash points its trials saw was crashed
// and every fault it needs fired (see Coverage), DefaultChecks at most. A
// law without crash points stops after DefaultMinChecks. Trials are still
// counted in order, so where a law stops does not depend on Parallel; a
// sharded run (Sharded) runs DefaultChecks.
//
// Why: a writer that takes a second an attempt (an interpreter and its
// imports) spent most of a fixed 100 trials per law re-crashing points
// already crashed; measured with a SQLAlchemy upsert (0.5 s an attempt),
// the default certifies every law in about two minutes, not seven.
const (
	DefaultChecks    = 100
	DefaultMinChecks = 30
)

// DefaultShrinkTime bounds the simplification of a counterexample unless
// ShrinkTime says otherwise.
const DefaultShrinkTime = 30 * time.Second

// Checks sets the number of random trials per law, after its smoke
// scenarios: exactly n, covered or not (default: the budget of
// DefaultMinChecks and DefaultChecks; Certify follows -rapid.checks when
// it is given).
func Checks(n int) Option { return func(s *settings) { s.checks = n } }

// Seed sets the run's seed, so that a run can be repeated: trial i of
// every law draws from a seed made of it and i, whatever Parallel is
// (default: a random seed, named in Report.Seed; Certify follows
// -rapid.seed and logs the seed).
func Seed(seed uint64) Option { return func(s *settings) { s.seed = seed } }

// Parallel sets how many trials run at once, over all laws (default
// ParallelPerCPU trials per CPU, 2 unless set, fewer when the server has
// few spare connections: a trial may hold three). Each run has a sandbox
// of its own while it runs (see FreshSandboxes); laws run concurrently,
// and a law's next random trial starts as soon as one of its trials ends.
// Verdicts, trial counts and counterexamples do not depend on n: trials
// are counted in order.
func Parallel(n int) Option { return func(s *settings) { s.parallel = n } }

// ParallelPerCPU sets Parallel's default to n trials per CPU (GOMAXPROCS;
// default 2), still fewer when the server has few spare connections; an
// explicit Parallel wins. A trial is a chain of steps that wait for one
// another (the writer, the fault proxy, the server, and for a command its
// process's start), so with one trial per core a core idles at every
// hand-over; two per core keep both busy. Measured with the server on the
// same 2-core machine: the reference Upsert 218 trials/s at 2 per CPU
// against 192 at 1; the psql writer testdata/upsert_tx.sh 9.1-9.2 s
// against 10.3-10.7 s at 1, with the same CPU (three alternated runs); a
// writer whose processes are heavier than the waits between them may do
// as well with 1 and use less CPU.
func ParallelPerCPU(n int) Option { return func(s *settings) { s.perCPU = n } }

// ShrinkTime bounds the simplification of a counterexample (default
// DefaultShrinkTime; Certify follows -rapid.shrinktime). Simplifying
// stops earlier when the counterexample is at its floor: no smaller
// scenario fails the same way.
func ShrinkTime(d time.Duration) Option { return func(s *settings) { s.shrinkTime = d } }

// Records is how a certification draws the records of a writer whose
// records are R: a generator, and, when every batch is one whole
// partition, the partition function. CheckRecords and CertifyRecords take
// it beside the writer, with the same R, so a generator of other records
// does not compile. Draw makes one (R inferred from the generator); Orders
// is the default records'.
type Records[R any] struct {
	gen       *rapid.Generator[R]
	partition func(R) string
	orders    bool // the default orders (their smoke batches are made, not drawn)
}

// Draw draws the records with gen.
func Draw[R any](gen *rapid.Generator[R]) Records[R] { return Records[R]{gen: gen} }

// Orders draws the default records, harness.Order (what Check and Certify
// use), for a partitioned certification: Orders().PartitionBy(...).
func Orders() Records[harness.Order] {
	return Records[harness.Order]{gen: strategies.Orders(), orders: true}
}

// PartitionBy certifies with a partition field: every batch is one whole
// partition, and a partition delivered again carries what it had plus
// newer records.
func (r Records[R]) PartitionBy(partition func(R) string) Records[R] {
	r.partition = partition
	return r
}

// Compare passes options to the state comparison (ignored columns, surrogate
// keys).
func Compare(opts ...trial.CompareOption) Option {
	return func(s *settings) { s.compare = append(s.compare, opts...) }
}

// Sandboxes passes options to every trial's sandbox, e.g.
// trial.Mode(trial.DatabaseSandbox) for a database per trial.
func Sandboxes(opts ...trial.SandboxOption) Option {
	return func(s *settings) { s.sandbox = append(s.sandbox, opts...) }
}

// FreshSandboxes gives every run a new sandbox and its own Setup. By
// default a check reuses the schema sandboxes its runs are done with,
// brought back to the state Setup left (trial.Reuse says how and when it
// does not), which saves creating a schema, running Setup and dropping the
// schema on most runs; this option is for a writer that reuse would hide
// something from, or to compare.
func FreshSandboxes() Option { return func(s *settings) { s.fresh = true } }

// Limits bounds the generated scenarios.
func Limits(l strategies.Limits) Option { return func(s *settings) { s.limits = l } }

// ScenarioDir is where counterexample scenario files are written (default
// testdata/idemcheck under the working directory).
func ScenarioDir(dir string) Option { return func(s *settings) { s.scenarioDir = dir } }

// DiscardFaultyStates drops each violated law's faulty state once its
// counterexample is made (the counterexample still holds the diff and the
// timeline), instead of keeping its sandbox on the server for inspection:
// for teaching runs and tools that read only the report, which would
// otherwise leave a sandbox per violated law until a later run reaps it.
func DiscardFaultyStates() Option { return func(s *settings) { s.discardFaulty = true } }

// WriterName names the writer in reports (default: its Go type).
func WriterName(name string) Option { return func(s *settings) { s.writerName = name } }

// Progress is called after every trial with the law, the trials so far and
// the faults fired so far, for progress displays.
func Progress(fn func(law harness.Law, trials int, faults map[Injection]int)) Option {
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

// Shard is one part of a certification split over several runs (CI
// runners): part Index (from 1) of Of. The zero Shard is the whole.
type Shard struct{ Index, Of int }

// whole reports whether s is the whole certification.
func (s Shard) whole() bool { return s.Of <= 1 }

// String is e.g. "2/4".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Of) }

// trials is the random trials of a law's checks that s runs: [from, to).
func (s Shard) trials(checks int) (from, to int) {
	if s.whole() {
		return 0, checks
	}
	return (s.Index - 1) * checks / s.Of, s.Index * checks / s.Of
}

// Sharded makes Check run one part of the certification: part s.Index of
// s.Of runs that share of every law's random trials (trial numbers
// (Index-1)*checks/Of up to Index*checks/Of, the same trials the whole
// run draws: give every part the same Seed and Checks), and part 1 also
// the smoke scenarios. A part applies no coverage minimum; Merge combines
// the parts' reports into the certificate the whole run gives (same laws,
// verdicts and first failures), applying it. In exhaustive mode a part
// runs that share of each law's enumerated points (every part enumerates
// the same family, in the same order), numbered as the whole run numbers
// them.
func Sharded(s Shard) Option { return func(st *settings) { st.shard = s } }
