package properties_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/rabbitmq"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
)

// builtOnce builds the command of package pkg (relative to this one)
// once, into a directory of its own, and returns its path.
func builtOnce(pkg string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "idemcheck-"+filepath.Base(pkg)+"-")
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, filepath.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return "", errors.New(string(out))
		}
		return bin, nil
	})
}

// kafkaOrders and queueOrders are the reference consumers, built once.
var (
	kafkaOrders = builtOnce("../reference/consumer/kafka-orders")
	queueOrders = builtOnce("../reference/queue/queue-orders")
)

var sharedBroker = sync.OnceValues(func() (*kafka.Broker, error) {
	b, err := kafka.Embedded()
	if err == nil {
		onClose(func() { b.Close() })
	}
	return b, err
})

func consumerProgram(t *testing.T, mode string) consumer.Program {
	t.Helper()
	bin, err := kafkaOrders()
	if err != nil {
		t.Fatalf("build the reference consumer: %v", err)
	}
	return consumer.Program{Command: bin + " -mode " + mode, SetupCommand: bin + " -setup -mode " + mode}
}

func consumerOpts(t *testing.T, extra ...properties.Option) []properties.Option {
	t.Helper()
	b, err := sharedBroker()
	if err != nil {
		t.Fatal(err)
	}
	// Budgets this small do not reach the default coverage; the tests
	// that need it say so.
	return append([]properties.Option{properties.OnTarget(target), properties.OnBroker(b), properties.MinCoverage(0),
		properties.Compare(trial.IgnoreTables("consumer_offsets")), properties.DiscardFaultyStates()}, extra...)
}

func TestExactlyOnceConsumerIsCertified(t *testing.T) {
	seed := randomSeed(t)
	r, err := properties.CheckConsumer(context.Background(), consumerProgram(t, "exactly-once"), consumerOpts(t, properties.Checks(10), properties.Seed(seed))...)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	for _, law := range []harness.Law{harness.Determinism, harness.ReplayIdempotence, harness.OrderIndependence, harness.RetryEquivalence, harness.ZombieSafety} {
		if lr := r.Laws[indexOf(law)]; lr.Verdict != properties.Held {
			t.Errorf("seed %d: %s %s: %s", seed, law, lr.Verdict, lr.Reason)
		}
	}
	for _, law := range []harness.Law{harness.RetryEquivalence, harness.ZombieSafety} {
		if cv := r.Laws[indexOf(law)].Coverage; cv == nil || cv.Crashed == 0 || cv.Points < cv.Crashed {
			t.Errorf("seed %d: %s coverage %+v; want classes seen and some hit", seed, law, cv)
		}
	}
	if lr := r.Laws[indexOf(harness.CrashAtomicity)]; lr.Verdict != properties.NotClaimed || lr.Reason == "" {
		t.Errorf("CrashAtomicity is %s (%q); want not-claimed with the reason", lr.Verdict, lr.Reason)
	}
}

// Every broken mode is caught at --checks 3, for any seed: the smoke
// scenarios hold the fault that breaks it.
func TestBrokenConsumersAreCaughtByTheirLaw(t *testing.T) {
	for _, tc := range []struct {
		mode             string
		law              harness.Law
		kind             properties.FailureKind
		batches, records int // of a minimal counterexample
	}{
		{"commit-first", harness.RetryEquivalence, properties.LostRows, 1, 1},
		{"insert-then-commit", harness.RetryEquivalence, properties.DuplicatedRows, 1, 1},
		{"insert-then-commit", harness.ReplayIdempotence, properties.DuplicatedRows, 1, 1},
		{"offsets-apart", harness.RetryEquivalence, properties.DuplicatedRows, 1, 1},
		{"skip-failed", harness.RetryEquivalence, properties.LostRows, 1, 1},
		{"unfenced", harness.ZombieSafety, properties.DuplicatedRows, 1, 1},
		{"insert-then-commit", harness.ZombieSafety, properties.DuplicatedRows, 1, 1},
		// Two orders of one customer, on two partitions, released in the
		// other order: one batch each (the shrinker drops batches and
		// records, and never merges two batches), or one batch.
		{"latest-by-arrival", harness.OrderIndependence, properties.WrongValues, 2, 2},
	} {
		t.Run(tc.mode+"/"+string(tc.law), func(t *testing.T) {
			t.Parallel()
			seed := randomSeed(t)
			r, err := properties.CheckConsumer(context.Background(), consumerProgram(t, tc.mode),
				consumerOpts(t, properties.Checks(3), properties.Seed(seed), properties.Laws(tc.law))...)
			if r == nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			lr := r.Laws[indexOf(tc.law)]
			if lr.Verdict != properties.Violated || lr.Failure != tc.kind {
				t.Fatalf("seed %d: %s %s (%v): %s; want violated, %v", seed, tc.law, lr.Verdict, lr.Failure, lr.Reason, tc.kind)
			}
			ce := lr.Counterexample
			if ce.Batches > tc.batches || ce.Records != tc.records || ce.Processes == 0 {
				t.Errorf("seed %d: the counterexample has %d batches, %d records and %d processes; a minimal one has at most %d batches, %d records, and a process:\n%s",
					seed, ce.Batches, ce.Records, ce.Processes, tc.batches, tc.records, ce)
			}
			t.Logf("seed %d, first failure at trial %d, %d shrink trials:\n%s", seed, lr.FirstFailure, lr.ShrinkTrials, ce)
		})
	}
}

func TestConsumerThatBreaksItsContractIsNamed(t *testing.T) {
	r, err := properties.CheckConsumer(context.Background(), consumer.Program{Command: "echo no broker here >&2; exit 4"}, consumerOpts(t, properties.Checks(1))...)
	if !errors.Is(err, properties.ErrWriterFails) || !errors.Is(err, consumer.ErrBadConsumer) {
		t.Fatalf("got %v; want ErrWriterFails and ErrBadConsumer", err)
	}
	if lr := r.Laws[indexOf(harness.RetryEquivalence)]; lr.Verdict != properties.Inconclusive || lr.Failure != properties.WriterFails {
		t.Fatalf("RetryEquivalence %s (%v); want inconclusive, writer-fails", lr.Verdict, lr.Failure)
	}
}

// randomSeed draws a new seed for a test that must pass for any seed,
// and logs it so that a failure can be repeated.
func randomSeed(t *testing.T) uint64 {
	seed := rand.Uint64()>>1 + 1
	t.Logf("seed %d", seed)
	return seed
}

// The unfenced consumer survives crashes (its offsets are in the write's
// transaction): only ZombieSafety tells it apart from the reference.
func TestUnfencedConsumerSurvivesCrashes(t *testing.T) {
	seed := randomSeed(t)
	r, err := properties.CheckConsumer(context.Background(), consumerProgram(t, "unfenced"),
		consumerOpts(t, properties.Checks(5), properties.Seed(seed), properties.Laws(harness.RetryEquivalence))...)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if lr := r.Laws[indexOf(harness.RetryEquivalence)]; lr.Verdict != properties.Held {
		t.Fatalf("seed %d: RetryEquivalence %s: %s", seed, lr.Verdict, lr.Reason)
	}
}

// Two parts of a sharded run merge into the whole run's certificate:
// the same verdicts, trials and first failures.
func TestShardedConsumerRunsMerge(t *testing.T) {
	seed := randomSeed(t)
	for _, mode := range []string{"exactly-once", "insert-then-commit"} {
		t.Run(mode, func(t *testing.T) {
			check := func(extra ...properties.Option) *properties.Report {
				r, _ := properties.CheckConsumer(context.Background(), consumerProgram(t, mode),
					consumerOpts(t, append(extra, properties.Checks(4), properties.Seed(seed), properties.ShrinkTime(time.Second))...)...)
				if r == nil {
					t.Fatalf("seed %d: no report", seed)
				}
				return r
			}
			whole := check()
			merged, err := properties.Merge(check(properties.Sharded(properties.Shard{Index: 2, Of: 2})), check(properties.Sharded(properties.Shard{Index: 1, Of: 2})))
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			for i, w := range whole.Laws {
				m := merged.Laws[i]
				if m.Verdict != w.Verdict || m.FirstFailure != w.FirstFailure || m.Failure != w.Failure ||
					(w.Verdict == properties.Held && m.Trials != w.Trials) {
					t.Errorf("seed %d: %s: whole %s (trials %d, first failure %d, %v), merged %s (trials %d, first failure %d, %v)",
						seed, w.Law, w.Verdict, w.Trials, w.FirstFailure, w.Failure, m.Verdict, m.Trials, m.FirstFailure, m.Failure)
				}
			}
		})
	}
}

// Exhaustive mode runs every point of the family: the reference holds
// them all; the unfenced consumer holds RetryEquivalence at every point
// and is caught by ZombieSafety. The family does not depend on the seed.
func TestExhaustiveConsumer(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		zombie properties.Verdict
	}{{"exactly-once", properties.Held}, {"unfenced", properties.Violated}} {
		t.Run(tc.mode, func(t *testing.T) {
			r, _ := properties.CheckConsumer(context.Background(), consumerProgram(t, tc.mode),
				consumerOpts(t, properties.Exhaustive(properties.Bounds{DoubleFaults: 2}), properties.ShrinkTime(time.Second),
					properties.Laws(harness.RetryEquivalence, harness.ZombieSafety))...)
			if r == nil {
				t.Fatal("no report")
			}
			retry, zombie := r.Laws[indexOf(harness.RetryEquivalence)], r.Laws[indexOf(harness.ZombieSafety)]
			if retry.Verdict != properties.Held || retry.Explored == nil || retry.Explored.Points < 5 {
				t.Errorf("RetryEquivalence %s (%s), explored %v; want held over every point", retry.Verdict, retry.Reason, retry.Explored)
			}
			if zombie.Verdict != tc.zombie {
				t.Errorf("ZombieSafety %s (%s); want %s", zombie.Verdict, zombie.Reason, tc.zombie)
			}
		})
	}
}

var sharedNATS = sync.OnceValues(func() (*natsjs.Server, error) {
	js, err := natsjs.Embedded()
	if err == nil {
		onClose(func() { js.Close() })
	}
	return js, err
})

// closers close the brokers and servers the tests started and share.
var (
	closersMu sync.Mutex
	closers   []func()
)

func onClose(f func()) {
	closersMu.Lock()
	closers = append(closers, f)
	closersMu.Unlock()
}

// closeSources closes them.
func closeSources() {
	closersMu.Lock()
	defer closersMu.Unlock()
	for _, f := range closers {
		f()
	}
}

// queueProgram is the reference queue consumer in mode.
func queueProgram(t *testing.T, mode string) consumer.Program {
	t.Helper()
	bin, err := queueOrders()
	if err != nil {
		t.Fatalf("build the reference queue consumer: %v", err)
	}
	return consumer.Program{Command: bin + " -mode " + mode, SetupCommand: bin + " -setup -mode " + mode}
}

// queueSources are the sources a queue consumer is checked on: the
// embedded NATS server, and the machine's RabbitMQ (a skip without one,
// a failure where IDEMCHECK_REQUIRE_RABBITMQ is set, as in CI).
var queueSources = []struct {
	name   string
	source func(t *testing.T) properties.Option
}{
	{"jetstream", func(t *testing.T) properties.Option {
		js, err := sharedNATS()
		if err != nil {
			t.Fatal(err)
		}
		return properties.OnNATS(js)
	}},
	{"rabbitmq", func(t *testing.T) properties.Option {
		r, err := sharedRabbit()
		if err != nil && os.Getenv("IDEMCHECK_REQUIRE_RABBITMQ") != "" {
			t.Fatalf("IDEMCHECK_REQUIRE_RABBITMQ is set, and: %v", err)
		}
		if err != nil {
			t.Skipf("no RabbitMQ at %s (.ci/run starts one): %v", rabbitmq.DefaultURL, err)
		}
		return properties.OnAMQP(r)
	}},
}

// sharedRabbit is the machine's RabbitMQ, or the error that says why
// there is none.
var sharedRabbit = sync.OnceValues(func() (*rabbitmq.Server, error) {
	r, err := rabbitmq.Dial(context.Background(), rabbitmq.DefaultURL)
	if err == nil {
		onClose(func() { r.Close() })
	}
	return r, err
})

// queueOpts are the options that check a queue consumer on source.
func queueOpts(source properties.Option, extra ...properties.Option) []properties.Option {
	return append([]properties.Option{properties.OnTarget(target), source, properties.MinCoverage(0), properties.DiscardFaultyStates()}, extra...)
}

// The reference queue consumer holds every law that applies, on each
// source, and every ack fault is injected.
func TestQueueConsumersAreCertified(t *testing.T) {
	for _, src := range queueSources {
		t.Run(src.name, func(t *testing.T) {
			seed := randomSeed(t)
			r, err := properties.CheckConsumer(context.Background(), queueProgram(t, "exactly-once"),
				queueOpts(src.source(t), properties.Checks(10), properties.Seed(seed))...)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			for _, law := range []harness.Law{harness.Determinism, harness.ReplayIdempotence, harness.RetryEquivalence, harness.ZombieSafety} {
				if lr := r.Laws[indexOf(law)]; lr.Verdict != properties.Held {
					t.Errorf("seed %d: %s %s: %s", seed, law, lr.Verdict, lr.Reason)
				}
			}
			if lr := r.Laws[indexOf(harness.OrderIndependence)]; lr.Verdict != properties.NotClaimed || lr.Reason == "" {
				t.Errorf("OrderIndependence is %s (%q) on a queue; want not-claimed with the reason", lr.Verdict, lr.Reason)
			}
			retry := r.Laws[indexOf(harness.RetryEquivalence)]
			for _, k := range []properties.Injection{properties.KillsBeforeAck, properties.KillsAfterAck, properties.LostAcks, properties.NegativeAcks} {
				if retry.Faults[k] == 0 {
					t.Errorf("seed %d: RetryEquivalence never injected %s: %v", seed, k, retry.Faults)
				}
			}
		})
	}
}

// Every broken queue mode is caught on each source at --checks 3, for any
// seed, and shrunk to one message.
func TestBrokenQueueConsumersAreCaught(t *testing.T) {
	for _, src := range queueSources {
		for _, tc := range []struct {
			mode string
			law  harness.Law
			kind properties.FailureKind
		}{
			{"ack-first", harness.RetryEquivalence, properties.LostRows},
			{"dedup-apart", harness.RetryEquivalence, properties.DuplicatedRows},
			{"late-ack", harness.ZombieSafety, properties.DuplicatedRows},
			{"late-ack", harness.RetryEquivalence, properties.DuplicatedRows},
			{"check-then-insert", harness.ZombieSafety, properties.DuplicatedRows},
		} {
			t.Run(src.name+"/"+tc.mode+"/"+string(tc.law), func(t *testing.T) {
				t.Parallel()
				seed := randomSeed(t)
				r, err := properties.CheckConsumer(context.Background(), queueProgram(t, tc.mode),
					queueOpts(src.source(t), properties.Checks(3), properties.Seed(seed), properties.Laws(tc.law))...)
				if r == nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				lr := r.Laws[indexOf(tc.law)]
				if lr.Verdict != properties.Violated || lr.Failure != tc.kind {
					t.Fatalf("seed %d: %s %s (%v): %s; want violated, %v", seed, tc.law, lr.Verdict, lr.Failure, lr.Reason, tc.kind)
				}
				if ce := lr.Counterexample; ce.Batches != 1 || ce.Records != 1 {
					t.Errorf("seed %d: the counterexample has %d batches and %d records; a minimal one has one record:\n%s", seed, ce.Batches, ce.Records, ce)
				}
			})
		}
	}
}
