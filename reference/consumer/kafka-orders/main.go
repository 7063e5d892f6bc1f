// Command kafka-orders is the reference Kafka consumer of orders, and its
// broken modes, as a program idemcheck certifies:
//
//	idemcheck certify --consumer 'kafka-orders -mode exactly-once' --setup 'kafka-orders -setup -mode exactly-once'
//
// With -setup it creates its tables in DATABASE_URL and exits; otherwise
// it consumes IDEMCHECK_TOPIC as group IDEMCHECK_GROUP until SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/idemcheck/idemcheck/reference/consumer"
	"github.com/jackc/pgx/v5"
)

func main() {
	mode := flag.String("mode", string(consumer.ExactlyOnce), fmt.Sprintf("how to apply polls: one of %v", consumer.Modes))
	setup := flag.Bool("setup", false, "create the tables in DATABASE_URL and exit")
	batch := flag.Bool("batch", false, "write the orders on stdin (JSON lines) as one poll, as a batch writer, and exit: the same write, for comparison")
	flag.Parse()
	if *batch {
		if err := consumer.WriteBatch(context.Background(), os.Getenv("DATABASE_URL"), os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "kafka-orders:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(consumer.Mode(*mode), *setup); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-orders:", err)
		os.Exit(1)
	}
}

func run(mode consumer.Mode, setup bool) error {
	known := false
	for _, m := range consumer.Modes {
		known = known || m == mode
	}
	if !known {
		return fmt.Errorf("unknown mode %q: want one of %v", mode, consumer.Modes)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if setup {
		conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return consumer.Setup(ctx, conn, mode)
	}
	cfg, err := consumer.FromEnv()
	if err != nil {
		return err
	}
	return consumer.Run(ctx, cfg, mode)
}
