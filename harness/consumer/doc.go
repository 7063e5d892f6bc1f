// Package consumer runs trials of a long-running consumer: a program that
// reads its source itself (a Kafka topic, a NATS JetStream stream, a
// RabbitMQ queue), writes to PostgreSQL and owns its offsets or acks,
// which the batch runner (harness/trial's Run, where idemcheck is the
// source and exit 0 the ack) cannot certify.
//
// A Program is the consumer's command and setup, with its contract: it
// reads where its messages are from the environment (Kafka: EnvBrokers,
// EnvTopic, EnvGroup, EnvSessionTimeout, EnvHeartbeat; JetStream:
// EnvNATSURL, EnvStream, EnvConsumer, EnvSubject, EnvAckWait; RabbitMQ:
// EnvAMQPURL, EnvQueue) and the database from PG*/DATABASE_URL; it commits
// its group's offsets, or acks each message once its effect is committed;
// on SIGTERM it finishes what it holds and exits 0.
//
// A Scenario is one trial as data: batches of orders published to the
// trial's own topic (at least two partitions, an order's records keyed by
// source and id, so they share a partition), stream or queue; batches
// published twice (a producer's retry); the faults of successive consumer
// processes (at a PostgreSQL wire point through package faults' proxy, at
// an offset commit or a poll through package kafka's, at an ack through
// natsjs's or rabbitmq's); a zombie; everything delivered again (an
// operator's reset or replay); on Kafka an interleaving of the
// partitions. Runner.Run plays it on the Runner's source: a fresh sandbox
// with the program's setup, the topic, stream or queue, then one process
// per fault and one more without, each until its fault kills it or it
// has caught up. Caught up is the source's and the proxies' view, never a
// sleep: the process has asked for messages, every message is committed
// or acked, and no statement or transaction of the process is open on the
// server. A process that exits on its own, never catches up, or ignores
// SIGTERM breaks the contract (ErrBadConsumer, with what it did and its
// last output).
package consumer
