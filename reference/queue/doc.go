// Package queue is the reference queue consumer of orders, on NATS
// JetStream or RabbitMQ, and its broken modes, each a lesson: the seed's
// pattern 3, exactly-once processing, done right (ExactlyOnce) and the
// classic ways it goes wrong.
//
// A message is one order as a JSON line; its dedup key is the order's
// (source, id, version). ExactlyOnce handles each message in one
// transaction: it records the dedup key in processed_messages (the key's
// constraint decides, ON CONFLICT DO NOTHING) and, only when the key is
// new, applies the effect (a row of order_events); after the commit it
// acks. A message delivered again (a lost ack, a crash before the ack, a
// redelivery after AckWait to a second consumer while the first was
// stalled, a second publish) finds its key and is acked without effect.
//
// The program queue-orders runs a mode under idemcheck:
//
//	idemcheck certify --source nats --consumer 'queue-orders -mode exactly-once' --setup 'queue-orders -setup -mode exactly-once'
//	idemcheck certify --source amqp --consumer 'queue-orders -mode exactly-once' --setup 'queue-orders -setup -mode exactly-once'
//
// It reads the source idemcheck gives it from its environment.
package queue
