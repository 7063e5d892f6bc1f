package main

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/rabbitmq"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
)

// consumerFlags say which long-running consumer to certify, and on which
// broker.
type consumerFlags struct {
	Consumer    string   `help:"Certify a long-running consumer instead: this command (sh -c) reads its source (--source), writes to PostgreSQL ($DATABASE_URL, PG*), commits or acks what it applied, and exits 0 on SIGTERM. A Kafka consumer joins $IDEMCHECK_GROUP and consumes $IDEMCHECK_TOPIC from $IDEMCHECK_KAFKA_BROKERS; a JetStream one pulls from durable consumer $IDEMCHECK_CONSUMER of $IDEMCHECK_STREAM at $IDEMCHECK_NATS_URL. See the README's Consumers section." placeholder:"CMD"`
	Source      string   `help:"With --consumer: what it consumes, kafka, nats (JetStream) or amqp (RabbitMQ); an embedded broker or server for kafka and nats unless --kafka or --nats names one, the machine's RabbitMQ (amqp://guest:guest@127.0.0.1:5672/) unless --amqp names one." enum:"kafka,nats,amqp" default:"kafka"`
	Kafka       string   `help:"With --consumer: an existing Kafka or Redpanda cluster's seed brokers (host:port,...) instead of the embedded broker; only the run's own topics and groups (idemcheck_...) are created and deleted there." placeholder:"BROKERS"`
	NATS        string   `name:"nats" help:"With --consumer --source nats: an existing NATS server with JetStream (nats://host:port) instead of the embedded one; only the run's own streams (IDEMCHECK_...) are created and deleted there." placeholder:"URL"`
	AMQP        string   `name:"amqp" help:"With --consumer --source amqp: the RabbitMQ server (amqp://user:pass@host:port/vhost); only the run's own queues (idemcheck_...) are declared and deleted there, and those of a killed run expire after 10 minutes unused." placeholder:"URL"`
	IgnoreTable []string `help:"Leave a table out of the comparison, e.g. a consumer's stored offsets, which differ when records are produced twice (repeatable)." placeholder:"TABLE"`
}

// certifyConsumer certifies --consumer and prints the certificate.
func (c certifyCmd) certifyConsumer(e *env) error {
	if err := c.consumerUsage(); err != nil {
		return err
	}
	if err := checkReportPath(c.Report); err != nil {
		return err
	}
	laws, err := parseLaws(c.Laws)
	if err != nil {
		return err
	}
	shard, err := c.shard()
	if err != nil {
		return err
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()>>1 + 1
	}
	tg, err := c.open(e.ctx, e.stderr)
	if err != nil {
		return err
	}
	defer tg.Close()
	source, err := c.source(e)
	if err != nil {
		return err
	}
	defer source.close()
	defer trial.CleanupOnSignal(source.close)()
	p := consumer.Program{Command: c.Consumer, SetupSQL: c.SetupSQL, SetupCommand: c.Setup, CatchUpTimeout: c.Timeout}
	fmt.Fprintf(e.stdout, "certifying %s on %s and the %s (seed %d)\n", p.Name(), tg, source.name, c.Seed)
	explore, err := c.exploration() // --min-coverage, --exhaustive and its bounds
	if err != nil {
		return err
	}
	opts := append(append(c.options(), explore...), properties.OnTarget(tg), source.option, properties.Laws(laws...),
		properties.Checks(c.Checks), properties.Seed(c.Seed), properties.ShrinkTime(c.ShrinkTime), properties.ScenarioDir(c.ScenarioDir))
	if c.Parallel > 0 {
		opts = append(opts, properties.Parallel(c.Parallel))
	}
	opts = append(opts, shard...)
	if len(c.IgnoreTable) > 0 {
		opts = append(opts, properties.Compare(trial.IgnoreTables(c.IgnoreTable...)))
	}
	rep, err := properties.CheckConsumer(e.ctx, p, opts...)
	if rep == nil {
		return err
	}
	return present(e, rep, targetOf(tg), 0, c.outputs, err)
}

// consumerSource is what a --consumer reads: its option for properties,
// its name for people, and how to close it.
type consumerSource struct {
	option properties.Option
	name   fmt.Stringer
	close  func()
}

// source is --source's broker or server: --kafka's cluster or --nats's
// server (their dead runs' topics or streams reaped), or an embedded
// one.
func (c certifyCmd) source(e *env) (consumerSource, error) {
	if c.Source == "amqp" {
		url := c.AMQP
		if url == "" {
			url = rabbitmq.DefaultURL
		}
		r, err := rabbitmq.Dial(e.ctx, url)
		if err != nil {
			return consumerSource{}, fmt.Errorf("--amqp %s: %w", url, err)
		}
		return consumerSource{properties.OnAMQP(r), r, func() { r.Close() }}, nil
	}
	if c.Source != "nats" {
		b, err := c.broker(e)
		if err != nil {
			return consumerSource{}, err
		}
		return consumerSource{properties.OnBroker(b), b, func() { b.Close() }}, nil
	}
	var js *natsjs.Server
	var err error
	if c.NATS == "" {
		js, err = natsjs.Embedded()
	} else if js, err = natsjs.Dial(e.ctx, c.NATS); err != nil {
		err = fmt.Errorf("--nats %s: %w", c.NATS, err)
	}
	if err != nil {
		return consumerSource{}, err
	}
	if c.NATS != "" {
		if n, err := js.Reap(e.ctx, trial.DefaultReapAfter); err != nil {
			fmt.Fprintf(e.stderr, "note: %v\n", err)
		} else if n > 0 {
			fmt.Fprintf(e.stderr, "removed %d streams that killed runs left on %s\n", n, c.NATS)
		}
	}
	return consumerSource{properties.OnNATS(js), js, func() { js.Close() }}, nil
}

// broker is --kafka's cluster (its dead runs' topics reaped), or the
// embedded broker.
func (c certifyCmd) broker(e *env) (*kafka.Broker, error) {
	if c.Kafka == "" {
		return kafka.Embedded()
	}
	b, err := kafka.Dial(e.ctx, strings.Split(c.Kafka, ","))
	if err != nil {
		return nil, fmt.Errorf("--kafka %s: %w", c.Kafka, err)
	}
	if n, err := b.Reap(e.ctx, trial.DefaultReapAfter); err != nil {
		fmt.Fprintf(e.stderr, "note: %v\n", err)
	} else if n > 0 {
		fmt.Fprintf(e.stderr, "removed %d topics and groups that killed runs left on %s\n", n, c.Kafka)
	}
	return b, nil
}

// consumerUsage refuses the flags that mean nothing for a consumer.
func (c certifyCmd) consumerUsage() error {
	for flag, given := range map[string]bool{
		"--exec": c.Exec != "", "--sql": c.SQL != "", "--records": c.Records != "", "--partition-field": c.PartitionField != "",
		"--replay": c.Replay != "", "--fresh-sandboxes": c.Fresh,
	} {
		if given {
			return usageError{fmt.Sprintf("%s does not apply to --consumer: a consumer is certified with random trials of the default orders", flag)}
		}
	}
	switch {
	case c.Source != "kafka" && c.Kafka != "":
		return usageError{fmt.Sprintf("--kafka names a Kafka cluster, but --source is %s", c.Source)}
	case c.Source != "nats" && c.NATS != "":
		return usageError{"--nats names a NATS server: add --source nats"}
	case c.Source != "amqp" && c.AMQP != "":
		return usageError{"--amqp names a RabbitMQ server: add --source amqp"}
	}
	return nil
}
