// Command kafka-orders is the reference Kafka consumer of orders, and its
// broken modes, as a program idemcheck certifies:
//
//	idemcheck certify --consumer 'kafka-orders -mode exactly-once' --setup 'kafka-orders -setup -mode exactly-once'
//
// With -setup it creates its tables in DATABASE_URL and exits; otherwise
// it consumes IDEMCHECK_TOPIC as group IDEMCHECK_GROUP until SIGTERM.
package main

import (
	"os"

	"github.com/idemcheck/idemcheck/reference/consumer"
)

func main() { os.Exit(consumer.Main(os.Args[1:], os.Stdin, os.Stderr)) }
