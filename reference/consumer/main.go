package consumer

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// Main is the program kafka-orders (and idemcheck's lessons) run: flags
// -mode, -setup (create the tables in DATABASE_URL and exit) and -batch
// (write the orders on stdin as one poll and exit); otherwise it consumes
// until SIGTERM. It returns the exit code.
func Main(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("kafka-orders", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", string(ExactlyOnce), fmt.Sprintf("how to apply polls: one of %v", Modes))
	setup := fs.Bool("setup", false, "create the tables in DATABASE_URL and exit")
	batch := fs.Bool("batch", false, "write the orders on stdin (JSON lines) as one poll, as a batch writer, and exit: the same write, for comparison")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := run(Mode(*mode), *setup, *batch, stdin); err != nil {
		fmt.Fprintln(stderr, "kafka-orders:", err)
		return 1
	}
	return 0
}

func run(mode Mode, setup, batch bool, stdin io.Reader) error {
	known := false
	for _, m := range Modes {
		known = known || m == mode
	}
	if !known {
		return fmt.Errorf("unknown mode %q: want one of %v", mode, Modes)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch {
	case batch:
		return WriteBatch(ctx, os.Getenv("DATABASE_URL"), stdin)
	case setup:
		conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return Setup(ctx, conn, mode)
	}
	cfg, err := FromEnv()
	if err != nil {
		return err
	}
	return Run(ctx, cfg, mode)
}
