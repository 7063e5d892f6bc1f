package properties

import (
	"context"
	"sync"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/rabbitmq"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// Kafka runs consumer trials on an existing cluster reached at its seed
// brokers (host:port each) instead of the embedded broker. The harness
// creates and deletes only its own topics and groups there.
func Kafka(brokers ...string) Option { return func(s *settings) { s.kafka = brokers } }

// OnBroker runs consumer trials on b (which the caller closes) instead of
// starting the embedded broker, or dialling Kafka's brokers, per check.
func OnBroker(b *kafka.Broker) Option { return func(s *settings) { s.broker = b } }

// NATS makes the consumer a NATS JetStream consumer: its trials run on
// the NATS server at url (nats://host:port, with JetStream), or on an
// embedded one started per check for "". The harness creates and deletes
// only its own streams there (IDEMCHECK_...).
func NATS(url string) Option {
	return func(s *settings) { s.useNATS, s.natsURL = true, url }
}

// OnNATS runs JetStream consumer trials on js (which the caller closes).
func OnNATS(js *natsjs.Server) Option { return func(s *settings) { s.useNATS, s.nats = true, js } }

// AMQP makes the consumer a RabbitMQ consumer: its trials run on the
// server at url (amqp://user:pass@host:port/vhost; "" for
// rabbitmq.DefaultURL), each on a queue of its own (classic or quorum,
// drawn), deleted after. There is no embedded RabbitMQ.
func AMQP(url string) Option {
	return func(s *settings) { s.useAMQP, s.amqpURL = true, url }
}

// OnAMQP runs RabbitMQ consumer trials on r (which the caller closes).
func OnAMQP(r *rabbitmq.Server) Option { return func(s *settings) { s.useAMQP, s.rabbit = true, r } }

// consumerLaws are the laws a consumer is checked against, in order, and
// what each means for a consumer; the others do not apply (notForConsumers).
var consumerLaws = []harness.Law{harness.Determinism, harness.ReplayIdempotence, harness.OrderIndependence, harness.RetryEquivalence, harness.ZombieSafety}

// notForConsumers says why a law is not checked for consumers.
var notForConsumers = map[harness.Law]string{
	harness.IncrementalEquivalence: "a consumer has no full refresh to compare with",
	harness.CrashAtomicity:         "the states between a consumer's polls are not yet checked",
	harness.ExactlyOnceEffect:      "its kills after the effect and before the offset commit (or ack) are RetryEquivalence's",
}

// notForQueues says why a law checked for Kafka consumers is not for
// queue consumers (JetStream, RabbitMQ).
var notForQueues = map[harness.Law]string{
	harness.OrderIndependence: "a stream or queue delivers in order; the orders a redelivery makes are ReplayIdempotence's and RetryEquivalence's",
}

// queue tells whether c's consumer reads a queue (JetStream or RabbitMQ):
// acks instead of offset commits, no partitions.
func (c *consumerChecker) queue() bool { return c.runner.JetStream != nil || c.runner.RabbitMQ != nil }

// laws are the laws c's consumer is checked against, in order.
func (c *consumerChecker) laws() []harness.Law {
	var out []harness.Law
	for _, law := range consumerLaws {
		if _, no := notForQueues[law]; !no || !c.queue() {
			out = append(out, law)
		}
	}
	return out
}

// notClaimed says why c does not check law ("" when it does).
func (c *consumerChecker) notClaimed(law harness.Law) string {
	if why, ok := notForConsumers[law]; ok {
		return "does not apply to consumers yet: " + why
	}
	if why, ok := notForQueues[law]; ok && c.queue() {
		return "does not apply to queue consumers: " + why
	}
	return ""
}

// CertifyConsumer checks the consumer program p against every law that
// applies to consumers, each as a subtest named after the law, like
// Certify: Determinism (two clean runs agree), ReplayIdempotence (records
// produced twice, the group's offsets rewound), OrderIndependence (the
// partitions' records reach it in a drawn interleaving), RetryEquivalence
// (its processes killed at PostgreSQL wire points and at offset commits,
// its polls and commits answered with error codes, and restarted) and
// ZombieSafety (a process frozen as a zombie while another takes over
// its work, then thawed). The other laws are skipped with the reason.
// Unless OnTarget and OnBroker or Kafka say otherwise, it finds a
// PostgreSQL by the default chain and starts the embedded broker, and
// closes both when done; with NATS or OnNATS the consumer is a JetStream
// one (acks instead of offset commits; OrderIndependence not claimed).
func CertifyConsumer(t *testing.T, p consumer.Program, opts ...Option) {
	t.Helper()
	report := sync.OnceValues(func() (*Report, error) {
		return CheckConsumer(context.Background(), p, append(rapidFlags(), opts...)...)
	})
	for _, law := range harness.AllLaws {
		t.Run(string(law), func(t *testing.T) {
			r, err := report()
			if r == nil {
				t.Fatal(err)
			}
			lr := r.Laws[indexOf(law)]
			switch lr.Verdict {
			case Violated:
				t.Errorf("%s", lr.Counterexample)
			case Inconclusive:
				t.Errorf("%s is inconclusive: %s", law, lr.Reason)
			case NotRun, NotClaimed:
				t.Skip(lr.Reason)
			default:
				t.Logf("%s: %s after %d trials; faults fired: %s", law, lr.Verdict, lr.Trials, lr.FaultSummary())
			}
		})
	}
}

// CheckConsumer is CertifyConsumer's error-returning twin: the report
// has every law in harness.AllLaws order, the ones that do not apply to
// consumers NotClaimed with the reason, and the error joins the
// violations (or says why none could be judged: a consumer that breaks
// its contract in a clean run is WriterFails, and every law inconclusive).
func CheckConsumer(ctx context.Context, p consumer.Program, opts ...Option) (*Report, error) {
	c, done, err := newConsumerChecker(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	defer done()
	return c.check(ctx)
}

// newConsumerChecker makes the checker and opens what it runs on; done
// closes what it opened.
func newConsumerChecker(ctx context.Context, p consumer.Program, opts []Option) (*consumerChecker, func(), error) {
	s := settings{}
	for _, o := range opts {
		o(&s)
	}
	if s.seed == 0 {
		s.seed = randomSeed()
	}
	if s.checks == 0 {
		s.checks = DefaultMinChecks
	}
	if s.parallel == 0 {
		s.parallel = 4 // a consumer trial mostly waits: for a session to expire, a poll, a process
	}
	var closers []func()
	done := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if s.target == nil {
		tg, err := trial.OpenTarget(ctx)
		if err != nil {
			return nil, nil, err
		}
		s.target = tg
		closers = append(closers, func() { tg.Close() })
	}
	if s.useNATS && s.nats == nil {
		var js *natsjs.Server
		var err error
		if s.natsURL != "" {
			js, err = natsjs.Dial(ctx, s.natsURL)
		} else {
			js, err = natsjs.Embedded()
		}
		if err != nil {
			done()
			return nil, nil, err
		}
		s.nats = js
		closers = append(closers, func() { js.Close() })
	}
	if s.useAMQP && s.rabbit == nil {
		url := s.amqpURL
		if url == "" {
			url = rabbitmq.DefaultURL
		}
		r, err := rabbitmq.Dial(ctx, url)
		if err != nil {
			done()
			return nil, nil, err
		}
		s.rabbit = r
		closers = append(closers, func() { r.Close() })
	}
	if !s.useNATS && !s.useAMQP && s.broker == nil {
		var b *kafka.Broker
		var err error
		if len(s.kafka) > 0 {
			b, err = kafka.Dial(ctx, s.kafka)
		} else {
			b, err = kafka.Embedded()
		}
		if err != nil {
			done()
			return nil, nil, err
		}
		s.broker = b
		closers = append(closers, func() { b.Close() })
	}
	runner := &consumer.Runner{Target: s.target, Broker: s.broker, Program: p}
	switch {
	case s.useNATS:
		runner.Broker, runner.JetStream = nil, s.nats
	case s.useAMQP:
		runner.Broker, runner.RabbitMQ = nil, s.rabbit
	}
	c := &consumerChecker{set: s, runner: runner,
		name: p.Name(), cleans: map[string]*cleanConsumerRun{}}
	return c, done, nil
}
