package consumer

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The environment a consumer program finds, besides PGHOST, PGPORT,
// PGDATABASE, PGUSER, PGPASSWORD, PGOPTIONS, DATABASE_URL and
// IDEMCHECK_DSN (all pointing at the PostgreSQL fault proxy, with
// search_path set to the trial's sandbox).
const (
	// EnvBrokers lists the brokers to bootstrap from, host:port
	// comma-separated: the Kafka fault proxy, never the cluster itself.
	EnvBrokers = "IDEMCHECK_KAFKA_BROKERS"
	// EnvTopic is the one topic to consume.
	EnvTopic = "IDEMCHECK_TOPIC"
	// EnvGroup is the consumer group to join.
	EnvGroup = "IDEMCHECK_GROUP"
	// EnvSessionTimeout is the group session timeout to use, in
	// milliseconds. A restarted consumer gets the partitions of a killed
	// one only when the dead member's session expires; with a client's
	// default (10-45 s) every restart of a trial waits that long.
	EnvSessionTimeout = "IDEMCHECK_SESSION_TIMEOUT_MS"
	// EnvHeartbeat is the heartbeat interval to go with it, in
	// milliseconds.
	EnvHeartbeat = "IDEMCHECK_HEARTBEAT_INTERVAL_MS"
)

// The environment a JetStream consumer finds instead of the Kafka one.
const (
	// EnvNATSURL is the server to connect to: the NATS fault proxy.
	EnvNATSURL = "IDEMCHECK_NATS_URL"
	// EnvStream is the stream to consume.
	EnvStream = "IDEMCHECK_STREAM"
	// EnvConsumer is the durable pull consumer to bind to, created by the
	// harness: explicit acks, every message from the first.
	EnvConsumer = "IDEMCHECK_CONSUMER"
	// EnvSubject is the stream's subject.
	EnvSubject = "IDEMCHECK_SUBJECT"
	// EnvAckWait is the consumer's AckWait in milliseconds: a message not
	// acked within it is delivered again.
	EnvAckWait = "IDEMCHECK_ACK_WAIT_MS"
)

// The environment a RabbitMQ consumer finds instead.
const (
	// EnvAMQPURL is the server to connect to, with credentials and
	// virtual host: the AMQP fault proxy.
	EnvAMQPURL = "IDEMCHECK_AMQP_URL"
	// EnvQueue is the queue to consume, with manual acks.
	EnvQueue = "IDEMCHECK_QUEUE"
)

// Program is a long-running consumer under test: a command that joins
// the group EnvGroup, consumes EnvTopic from the brokers EnvBrokers,
// writes to PostgreSQL, and commits its group's offsets to the broker.
// It runs until SIGTERM, on which it finishes the records it holds and
// exits 0.
//
// The harness judges a consumer caught up when its group's committed
// offsets reach the end of every partition and no transaction or
// statement of it is open on the server: a consumer that keeps its
// offsets in PostgreSQL must commit them to the group too (after its
// transaction, and on assignment), as lag monitoring needs anyway.
type Program struct {
	// Command runs as sh -c would run it, in a process group of its own
	// (a kill takes the shell and all it started).
	Command string
	// SetupSQL (a file run statement by statement) and then SetupCommand
	// create the consumer's tables, once per sandbox.
	SetupSQL     string
	SetupCommand string
	// StopTimeout is how long the consumer has to exit after SIGTERM
	// (default 10 s).
	StopTimeout time.Duration
	// CatchUpTimeout is how long one consumer process has to catch up
	// (default 60 s).
	CatchUpTimeout time.Duration
}

// Name describes the program for reports.
func (p Program) Name() string {
	s := "consumer " + strconv.Quote(p.Command)
	if p.SetupSQL != "" {
		s += " setup-sql " + strconv.Quote(p.SetupSQL)
	}
	if p.SetupCommand != "" {
		s += " setup " + strconv.Quote(p.SetupCommand)
	}
	return s
}

func (p Program) stopTimeout() time.Duration {
	if p.StopTimeout > 0 {
		return p.StopTimeout
	}
	return 10 * time.Second
}

func (p Program) catchUpTimeout() time.Duration {
	if p.CatchUpTimeout > 0 {
		return p.CatchUpTimeout
	}
	return 60 * time.Second
}

// ErrBadConsumer is what a consumer that breaks its contract ends a
// trial with: it exits on its own, never catches up, or does not stop on
// SIGTERM. The error says which, what the consumer did, and its output's
// last lines.
var ErrBadConsumer = errors.New("the consumer broke its contract")

// contractError is one ErrBadConsumer.
func contractError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadConsumer}, args...)...)
}
