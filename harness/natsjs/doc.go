// Package natsjs is the server side of NATS JetStream consumer trials: a
// NATS server with JetStream to run them on, the run's own streams and
// durable consumers on it, and a proxy that sees and faults what a
// consumer says to the server.
//
// A Server is either Embedded (nats-server started in this process, its
// JetStream store in a temporary directory removed on Close) or an
// existing server reached by URL with Dial. Either way the harness talks
// to it over TCP with nats.go, so the code a real server meets is the
// code the embedded one tests. NewStream creates a trial's stream, its
// subject and its durable pull consumer (explicit acks, AckWait); the
// names carry Prefix, the run and a number, and Remove, Close and Reap
// (for runs killed before they could clean up) delete only such streams.
//
// A Proxy relays the NATS client protocol line by line (with the
// payloads of PUB, HPUB, MSG and HMSG), removing the other servers'
// addresses from INFO so a client bootstrapped from Proxy.URL never
// reaches the server directly. A Session (one consumer process) counts
// the messages delivered to it and the acks it sends, and applies one
// acks.Fault: kill the consumer before an ack leaves it or just after, lose
// the ack on the way (the server redelivers after AckWait), or turn it
// into a negative ack (redelivered at once).
//
// Limits: plain-text connections only (no TLS); acks are recognised by
// their subject ($JS.ACK.), as JetStream sends them.
package natsjs
