// Package consumer runs trials of a long-running consumer: a program that
// reads a Kafka topic itself, writes to PostgreSQL and owns its offsets,
// which the batch runner (harness/trial's Run, where idemcheck is the
// source and exit 0 the ack) cannot certify.
//
// A Program is the consumer's command and setup, with its contract: it
// reads its brokers, topic, group and group timeouts from the environment
// (EnvBrokers, EnvTopic, EnvGroup, EnvSessionTimeout, EnvHeartbeat) and the
// database from PG*/DATABASE_URL; it commits its group's offsets; on
// SIGTERM it finishes what it holds and exits 0.
//
// A Scenario is one trial as data: batches of orders produced to a fresh
// topic of at least two partitions (an order's records keyed by source and
// id, so they share a partition), batches produced twice (a producer's
// retry), the kills of successive consumer processes (at a PostgreSQL wire
// point through package faults' proxy, or at an OffsetCommit through
// package kafka's), and a rewind of the group's offsets (an operator's
// reset). Runner.Run plays it: a fresh sandbox with the program's setup,
// the topic and group, then one process per kill and one more without
// faults, each until its fault kills it or it has caught up. Caught up is
// the broker's and the proxies' view, never a sleep: the process has
// fetched, the group's committed offsets are at the end of every
// partition, and no statement or transaction of the process is open on
// the server. A process that exits on its own,
// never catches up, or ignores SIGTERM breaks the contract
// (ErrBadConsumer, with what it did and its last output).
package consumer
