// Command queue-orders is the reference JetStream consumer of orders,
// and its broken modes, as a program idemcheck certifies:
//
//	idemcheck certify --source nats --consumer 'queue-orders -mode exactly-once' --setup 'queue-orders -setup -mode exactly-once'
//
// With -setup it creates its tables in DATABASE_URL and exits; otherwise
// it consumes IDEMCHECK_STREAM through durable consumer
// IDEMCHECK_CONSUMER until SIGTERM.
package main

import (
	"os"

	"github.com/idemcheck/idemcheck/reference/queue"
)

func main() { os.Exit(queue.Main(os.Args[1:], os.Stderr)) }
