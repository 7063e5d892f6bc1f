package queue

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

// Main is the program queue-orders (and idemcheck's lessons) run: flags
// -mode and -setup (create the tables in DATABASE_URL and exit);
// otherwise it consumes until SIGTERM. It returns the exit code.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("queue-orders", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", string(ExactlyOnce), fmt.Sprintf("how to handle messages: one of %v", Modes))
	setup := fs.Bool("setup", false, "create the tables in DATABASE_URL and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := run(Mode(*mode), *setup); err != nil {
		fmt.Fprintln(stderr, "queue-orders:", err)
		return 1
	}
	return 0
}

func run(mode Mode, setup bool) error {
	known := false
	for _, m := range Modes {
		known = known || m == mode
	}
	if !known {
		return fmt.Errorf("unknown mode %q: want one of %v", mode, Modes)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if setup {
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
