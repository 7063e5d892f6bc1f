// Package kafka is the broker side of consumer trials: a Kafka cluster to
// run them on, the run's own topics and groups on it, and a proxy that
// sees and faults what a consumer says to the broker.
//
// A Broker is either Embedded (franz-go's kfake: a Kafka protocol
// implementation that runs in this process, with no Java, Docker or
// download; not Apache Kafka) or an existing cluster reached with Dial
// (Kafka, Redpanda). Either way the harness talks to it over TCP with a
// Kafka client, so the code a real cluster meets is the code the embedded
// broker tests. NewTopic creates a trial's topic and names its group
// (Prefix, the run, the creation time, a number); Remove, Close and Reap
// (for runs killed before they could clean up) delete only such names.
//
// A Proxy relays the protocol frame by frame and listens once per broker,
// rewriting the broker addresses of Metadata and FindCoordinator
// responses to its own listeners, so a consumer bootstrapped from
// Proxy.Addrs never reaches the cluster directly. A Session (one consumer
// process) counts its Fetch and OffsetCommit requests and applies one
// CommitFault: kill the consumer before a commit is applied, after it is
// applied with its response lost, or answer it with an error code.
//
// Limits: plain-text listeners only (no TLS or SASL); DescribeCluster
// responses are relayed unrewritten (consumers do not send it).
package kafka
