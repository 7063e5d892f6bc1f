package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/acks"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/rabbitmq"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// channel is one trial's own place on its source, and the proxy its
// consumer processes reach it through: a Kafka topic and group, a
// JetStream stream and durable consumer, or a RabbitMQ queue.
type channel interface {
	// environ is what a consumer process finds in its environment to
	// reach the channel (through the proxy).
	environ() []string
	// begin starts the proxy session of one consumer process, which
	// meets f's fault at the source (if any); kill ends the process.
	begin(f Fault, kill func()) session
	// pending counts the messages not yet committed (Kafka) or acked
	// (JetStream, RabbitMQ).
	pending(ctx context.Context) (int64, error)
	// rewind makes the channel deliver everything again from the first
	// message, as an operator's reset does.
	rewind(ctx context.Context) error
	// did says what a consumer process did at the source, for a
	// contract error.
	did(s session, rounds int) string
	// stall is told that a process was frozen as a zombie, so that the
	// source takes its work away as it would from a silent consumer
	// (AMQP: its connections cut, as a missed heartbeat would; Kafka and
	// JetStream do it themselves, by session timeout and AckWait).
	stall(s session)
	// close closes the proxy and removes the channel.
	close(ctx context.Context)
}

// session is what one consumer process did through the proxy.
type session interface {
	Fired() bool
	// requests for messages (Kafka Fetch, JetStream pull, AMQP
	// subscriptions the server confirmed), responses that brought some
	// (deliveries), commits (Kafka offset commits, acks)
	requests() int
	polls() int
	commits() int
	marks() []trial.Mark
	SetClock(func() int)
	End()
}

// Key is the Kafka key of an order's records: its source and id.
func Key(o harness.Order) string { return o.Source + "/" + strconv.FormatInt(o.ID, 10) }

// messages are the orders of sc's batches from to to in publishing
// order, as the JSON lines external writers read; a batch in Twice
// follows itself once more.
func messages(sc Scenario, from, to int) []harness.Order {
	twice := map[int]bool{}
	for _, i := range sc.Twice {
		twice[i] = true
	}
	var out []harness.Order
	for i := from; i < to; i++ {
		n := 1
		if twice[i] {
			n = 2
		}
		for range n {
			out = append(out, sc.Batches[i].Records...)
		}
	}
	return out
}

// open creates the trial's channel on the runner's source and publishes
// sc's messages to it.
func (r *Runner) open(ctx context.Context, sc Scenario, obs *Observation) (channel, error) {
	sources := 0
	for _, set := range []bool{r.Broker != nil, r.JetStream != nil, r.RabbitMQ != nil} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return nil, errors.New("consumer: the runner has several sources (Broker, JetStream, RabbitMQ); set one")
	}
	if sc.Quorum && r.RabbitMQ == nil {
		return nil, errors.New("consumer: quorum queues are RabbitMQ's")
	}
	switch {
	case r.RabbitMQ != nil:
		if len(sc.Interleaving) > 0 || sc.MsgIDs {
			return nil, errors.New("consumer: a RabbitMQ queue has no partitions to interleave and no message de-duplication")
		}
		return openQueue(ctx, r.RabbitMQ, sc)
	case r.JetStream != nil:
		if len(sc.Interleaving) > 0 {
			return nil, errors.New("consumer: a JetStream stream has no partitions to interleave")
		}
		return openStream(ctx, r.JetStream, sc)
	case r.Broker != nil:
		if sc.MsgIDs {
			return nil, errors.New("consumer: message IDs are JetStream's; Kafka has none")
		}
		return openTopic(ctx, r.Broker, sc, obs)
	}
	return nil, errors.New("consumer: the runner has no source: set Broker, JetStream or RabbitMQ")
}

// topicChannel is a trial's Kafka topic and group.
type topicChannel struct {
	broker *kafka.Broker
	topic  *kafka.Topic
	proxy  *kafka.Proxy
}

func openTopic(ctx context.Context, b *kafka.Broker, sc Scenario, obs *Observation) (*topicChannel, error) {
	topic, err := b.NewTopic(ctx, sc.partitions())
	if err != nil {
		return nil, err
	}
	c := &topicChannel{broker: b, topic: topic}
	gate, err := c.produce(ctx, sc)
	if err == nil {
		c.proxy, err = kafka.NewProxy(b.Seeds())
	}
	if err != nil {
		b.Remove(context.WithoutCancel(ctx), topic)
		return nil, err
	}
	c.proxy.SetGate(gate)
	obs.Partitions = map[string]int32{}
	for _, bt := range sc.Batches {
		for _, o := range bt.Records {
			if p, ok := topic.PartitionOf([]byte(Key(o))); ok {
				obs.Partitions[Key(o)] = p
			}
		}
	}
	return c, nil
}

// produce writes sc's records to the topic: all at once, or with an
// Interleaving a batch at a time, to learn where each batch ends in each
// partition, and returns the gate that plays the interleaving (nil
// without one).
func (c *topicChannel) produce(ctx context.Context, sc Scenario) (*kafka.Gate, error) {
	if len(sc.Interleaving) == 0 {
		return nil, c.broker.Produce(ctx, c.topic, records(messages(sc, 0, len(sc.Batches))))
	}
	ends := make([]map[int32]int64, len(sc.Batches))
	for i := range sc.Batches {
		if err := c.broker.Produce(ctx, c.topic, records(messages(sc, i, i+1))); err != nil {
			return nil, err
		}
		ends[i] = c.topic.Ends()
	}
	seen := map[int]int{}
	steps := make([]kafka.Release, len(sc.Interleaving))
	for i, p := range sc.Interleaving {
		steps[i] = kafka.Release{Partition: int32(p), Below: ends[seen[p]][int32(p)]}
		seen[p]++
	}
	return kafka.NewGate(c.topic, steps)
}

// records are orders as Kafka records, keyed by Key.
func records(orders []harness.Order) []kafka.Record {
	rs := make([]kafka.Record, len(orders))
	for i, o := range orders {
		v, _ := json.Marshal(o)
		rs[i] = kafka.Record{Key: []byte(Key(o)), Value: v}
	}
	return rs
}

func (c *topicChannel) environ() []string {
	return []string{EnvBrokers + "=" + strings.Join(c.proxy.Addrs(), ","), EnvTopic + "=" + c.topic.Name, EnvGroup + "=" + c.topic.Group,
		EnvSessionTimeout + "=" + strconv.FormatInt(kafka.SessionTimeout.Milliseconds(), 10),
		EnvHeartbeat + "=" + strconv.FormatInt(kafka.HeartbeatInterval.Milliseconds(), 10)}
}

func (c *topicChannel) begin(f Fault, kill func()) session {
	return kafkaSession{c.proxy.Begin(kafka.Fault{Commit: f.Commit, Fetch: f.Fetch}, kill)}
}

func (c *topicChannel) pending(ctx context.Context) (int64, error) { return c.broker.Lag(ctx, c.topic) }

func (c *topicChannel) rewind(ctx context.Context) error { return c.broker.Rewind(ctx, c.topic) }

func (c *topicChannel) did(s session, rounds int) string {
	ks := s.(kafkaSession).Session
	if asked := ks.Topics(); len(asked) > 0 && !slices.Contains(asked, c.topic.Name) {
		return fmt.Sprintf("it asked the brokers about %v, never about its topic %s (does it read %s?)", asked, c.topic.Name, EnvTopic)
	}
	switch {
	case ks.Fetches() == 0:
		return fmt.Sprintf("it never fetched from the brokers in %s (does it read %s and %s?)", EnvBrokers, EnvBrokers, EnvTopic)
	case ks.Commits() == 0:
		return fmt.Sprintf("it fetched %d times but never committed offsets to group %s (a consumer commits to %s, also when it keeps offsets in PostgreSQL)", ks.Fetches(), EnvGroup, EnvGroup)
	}
	return fmt.Sprintf("it fetched %d times, committed %d times and made %d PostgreSQL rounds", ks.Fetches(), ks.Commits(), rounds)
}

func (c *topicChannel) stall(session) {}

func (c *topicChannel) close(ctx context.Context) {
	c.proxy.Close()
	c.broker.Remove(ctx, c.topic)
}

// kafkaSession is a Kafka proxy session as a session.
type kafkaSession struct{ *kafka.Session }

func (s kafkaSession) requests() int { return s.Fetches() }
func (s kafkaSession) polls() int    { return s.Polls() }
func (s kafkaSession) commits() int  { return s.Commits() }

func (s kafkaSession) marks() []trial.Mark {
	var out []trial.Mark
	for _, m := range s.Marks() {
		kind := trial.CommitMark
		if m.Kind == kafka.Poll {
			kind = trial.PollMark
		}
		out = append(out, trial.Mark{Kind: kind, AfterRound: m.AfterRound, Label: m.String(), Fault: m.Fault != ""})
	}
	return out
}

// streamChannel is a trial's JetStream stream and durable consumer.
type streamChannel struct {
	server *natsjs.Server
	stream *natsjs.Stream
	proxy  *natsjs.Proxy
}

func openStream(ctx context.Context, s *natsjs.Server, sc Scenario) (*streamChannel, error) {
	st, err := s.NewStream(ctx)
	if err != nil {
		return nil, err
	}
	c := &streamChannel{server: s, stream: st}
	var msgs []natsjs.Message
	for _, o := range messages(sc, 0, len(sc.Batches)) {
		v, _ := json.Marshal(o)
		m := natsjs.Message{Data: v}
		if sc.MsgIDs {
			m.ID = Key(o) + "/" + strconv.FormatInt(o.Version, 10)
		}
		msgs = append(msgs, m)
	}
	err = s.Publish(ctx, st, msgs)
	if err == nil {
		c.proxy, err = natsjs.NewProxy(s.URL())
	}
	if err != nil {
		s.Remove(context.WithoutCancel(ctx), st)
		return nil, err
	}
	return c, nil
}

func (c *streamChannel) environ() []string {
	return []string{EnvNATSURL + "=" + c.proxy.URL(), EnvStream + "=" + c.stream.Name, EnvConsumer + "=" + c.stream.Consumer,
		EnvSubject + "=" + c.stream.Subject, EnvAckWait + "=" + strconv.FormatInt(natsjs.AckWait.Milliseconds(), 10)}
}

func (c *streamChannel) begin(f Fault, kill func()) session {
	return natsSession{c.proxy.Begin(f.Ack, kill)}
}

func (c *streamChannel) pending(ctx context.Context) (int64, error) {
	return c.server.Pending(ctx, c.stream)
}

func (c *streamChannel) rewind(ctx context.Context) error { return c.server.Rewind(ctx, c.stream) }

func (c *streamChannel) did(s session, rounds int) string {
	ns := s.(natsSession).Session
	if asked := ns.Streams(); len(asked) > 0 && !slices.Contains(asked, c.stream.Name) {
		return fmt.Sprintf("it asked the server about streams %v, never about its stream %s (does it read %s?)", asked, c.stream.Name, EnvStream)
	}
	switch {
	case ns.Pulls() == 0 && ns.Deliveries() == 0:
		return fmt.Sprintf("it never pulled from consumer %s at %s (does it read %s, %s and %s?)", c.stream.Consumer, EnvNATSURL, EnvNATSURL, EnvStream, EnvConsumer)
	case ns.Acks() == 0:
		return fmt.Sprintf("it was given %d messages but never acked one (a consumer acks each message once its effect is committed)", ns.Deliveries())
	}
	return fmt.Sprintf("it was given %d messages, acked %d and made %d PostgreSQL rounds", ns.Deliveries(), ns.Acks(), rounds)
}

func (c *streamChannel) stall(session) {}

func (c *streamChannel) close(ctx context.Context) {
	c.proxy.Close()
	c.server.Remove(ctx, c.stream)
}

// natsSession is a JetStream proxy session as a session.
type natsSession struct{ *natsjs.Session }

func (s natsSession) requests() int { return s.Pulls() + s.Deliveries() }
func (s natsSession) polls() int    { return s.Deliveries() }
func (s natsSession) commits() int  { return s.Acks() }

func (s natsSession) marks() []trial.Mark { return ackMarks(s.Marks()) }

// ackMarks are a queue session's deliveries (as polls) and acks (as
// commits) on a timeline.
func ackMarks(ms []acks.Mark) []trial.Mark {
	var out []trial.Mark
	for _, m := range ms {
		kind := trial.CommitMark
		if m.Kind == acks.Delivery {
			kind = trial.PollMark
		}
		out = append(out, trial.Mark{Kind: kind, AfterRound: m.AfterRound, Label: m.String(), Fault: m.Fault != ""})
	}
	return out
}

// queueChannel is a trial's RabbitMQ queue.
type queueChannel struct {
	server *rabbitmq.Server
	queue  *rabbitmq.Queue
	proxy  *rabbitmq.Proxy
	sc     Scenario
}

func openQueue(ctx context.Context, s *rabbitmq.Server, sc Scenario) (*queueChannel, error) {
	q, err := s.NewQueue(ctx, sc.Quorum)
	if err != nil {
		return nil, err
	}
	c := &queueChannel{server: s, queue: q, sc: sc}
	err = c.publish(ctx)
	if err == nil {
		c.proxy, err = rabbitmq.NewProxy(s.Addr())
	}
	if err != nil {
		s.Remove(q)
		return nil, err
	}
	return c, nil
}

// publish publishes the scenario's messages, all of them.
func (c *queueChannel) publish(ctx context.Context) error {
	var bodies [][]byte
	for _, o := range messages(c.sc, 0, len(c.sc.Batches)) {
		v, _ := json.Marshal(o)
		bodies = append(bodies, v)
	}
	return c.server.Publish(ctx, c.queue, bodies)
}

func (c *queueChannel) environ() []string {
	return []string{EnvAMQPURL + "=" + c.server.ConsumerURL(c.proxy.Addr()), EnvQueue + "=" + c.queue.Name}
}

func (c *queueChannel) begin(f Fault, kill func()) session {
	return amqpSession{c.proxy.Begin(f.Ack, kill)}
}

// pending counts the messages published and never acked through the
// proxy (see rabbitmq.Proxy: the server's counts cannot tell a message
// on its way to the consumer from one acked), and those the server still
// holds ready.
func (c *queueChannel) pending(context.Context) (int64, error) {
	n := c.queue.Published()
	if unacked := n - c.proxy.Acked(n); unacked > 0 {
		return int64(unacked), nil // no round trip while the proxy says so
	}
	ready, err := c.server.Ready(c.queue)
	return int64(ready), err
}

// rewind publishes every message again: a queue has no offsets to set
// back, and a replay from an archive is the operator's way to deliver
// everything once more.
func (c *queueChannel) rewind(ctx context.Context) error { return c.publish(ctx) }

func (c *queueChannel) did(s session, rounds int) string {
	as := s.(amqpSession).Session
	if asked := as.Queues(); len(asked) > 0 && !slices.Contains(asked, c.queue.Name) {
		return fmt.Sprintf("it consumed from queues %v, never from its queue %s (does it read %s?)", asked, c.queue.Name, EnvQueue)
	}
	switch {
	case as.Requests() == 0:
		return fmt.Sprintf("it never consumed from queue %s at %s (does it read %s and %s?)", c.queue.Name, EnvAMQPURL, EnvAMQPURL, EnvQueue)
	case as.Acks() == 0:
		return fmt.Sprintf("it was given %d messages but never acked one (a consumer acks each message once its effect is committed, with manual acks)", as.Deliveries())
	}
	return fmt.Sprintf("it was given %d messages, acked %d and made %d PostgreSQL rounds", as.Deliveries(), as.Acks(), rounds)
}

// stall cuts the frozen process's connections, as the server does when
// its heartbeats stop: what it held unacked is requeued.
func (c *queueChannel) stall(s session) { s.(amqpSession).Cut() }

func (c *queueChannel) close(context.Context) {
	c.proxy.Close()
	c.server.Remove(c.queue)
}

// amqpSession is a RabbitMQ proxy session as a session.
type amqpSession struct{ *rabbitmq.Session }

func (s amqpSession) requests() int { return s.Requests() + s.Deliveries() }
func (s amqpSession) polls() int    { return s.Deliveries() }
func (s amqpSession) commits() int  { return s.Acks() }

func (s amqpSession) marks() []trial.Mark { return ackMarks(s.Marks()) }
