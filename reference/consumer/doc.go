// Package consumer is the reference Kafka consumer of orders (franz-go
// and pgx), in the shape idemcheck certifies consumers: a program that
// reads its broker, topic and group from the environment, writes to
// PostgreSQL, commits its offsets to the group, and stops on SIGTERM.
//
// ExactlyOnce is the seed's exactly-once processing done right:
// at-least-once delivery plus idempotent processing, with the dedup key
// recorded with the effect. Each poll is one transaction that locks the
// offsets kept in PostgreSQL for its partitions, skips the records below
// them (so a zombie's late transaction, which waits on the lock, finds
// its records applied and changes nothing), inserts the rest keyed by
// (source, id, version) and advances the offsets; the group's offsets
// are committed after it, and on assignment the offsets kept in
// PostgreSQL are where fetching starts (and what the group is told).
//
// The other modes are the classic broken consumers, each a lesson with
// the public incident it comes from. Command kafka-orders runs any mode.
package consumer
