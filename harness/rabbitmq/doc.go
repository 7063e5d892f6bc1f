// Package rabbitmq is the server side of RabbitMQ (AMQP 0-9-1) consumer
// trials: a RabbitMQ server reached by URL, the run's own queues on it,
// and a proxy that sees and faults what a consumer says to the server.
//
// There is no embedded RabbitMQ: Dial reaches one by URL (the machines
// here run one at 127.0.0.1:5672, guest/guest; .ci/run starts it where it
// is not running). NewQueue declares a trial's queue, classic or quorum,
// named with Prefix, the run and a number, with an expiry (x-expires) of
// DefaultExpiry: a run killed before it could delete its queues leaves
// them to the server, which deletes them once unused that long. Remove
// and Close delete only the run's own queues.
//
// A Proxy relays AMQP frames. Every message published carries a message
// id of its own (1, 2, ...); the proxy reads the id of each message
// delivered (basic.deliver or basic.get-ok, and its content header) and,
// per channel, which delivery tag carries it, so that an ack (one, or
// several with multiple) names the messages it acks. A Queue is caught up
// when every message published has been acked through the proxy: the
// server's own counts (ready, unacked) cannot tell a message on its way
// to the consumer from one acked. A Session (one consumer process) counts
// its deliveries and acks and applies one acks.Fault: kill the consumer
// before an ack leaves it or right after, lose the ack (and the
// connection with it, as a network fault would: the server requeues what
// it held), or turn it into basic.nack with requeue.
//
// Limits: plain AMQP only (no TLS); one consumer program per queue.
package rabbitmq
