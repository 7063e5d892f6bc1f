package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK        = 0
	exitViolation = 1
	exitUsage     = 2
)

type cli struct {
	Lessons lessonsCmd `cmd:"" help:"Break each classic anti-pattern live against PostgreSQL, show the minimal counterexample, then its fix holding."`
	Certify certifyCmd `cmd:"" help:"Certify a writer in any language (--exec), a SQL file (--sql) or a long-running Kafka consumer (--consumer) against the laws."`
	Merge   mergeCmd   `cmd:"" help:"Combine the --json parts of a sharded certification (certify --shard I/N) into one certificate."`
	Replay  replayCmd  `cmd:"" help:"Re-run a saved counterexample scenario exactly."`
	Doctor  doctorCmd  `cmd:"" help:"Find a PostgreSQL by the default chain, create a sandbox, snapshot it and report what was found."`
	Broker  brokerCmd  `cmd:"" help:"Run the embedded Kafka broker that certify --consumer uses, on its own, for developing a consumer."`

	ReferenceConsumer referenceConsumerCmd `cmd:"" hidden:"" help:"Run the reference Kafka consumer (the consumer lessons' subject)."`
	ReferenceQueue    referenceQueueCmd    `cmd:"" name:"reference-queue-consumer" hidden:"" help:"Run the reference JetStream consumer (the queue lessons' subject)."`
	Version           versionCmd           `cmd:"" help:"Print the version."`
}

// env is what every command gets: where to write and a context that ends
// on Ctrl-C.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	fmt.Fprintln(e.stdout, "idemcheck", version)
	return nil
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args and runs the command, returning the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c cli
	exit := -1
	parser, err := kong.New(&c,
		kong.Name("idemcheck"),
		kong.Description("idemcheck proves that a data pipeline's writes are idempotent, against a real PostgreSQL."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exit = code }),
		kong.UsageOnError(),
	)
	if err != nil {
		fmt.Fprintln(stderr, "idemcheck:", err)
		return exitUsage
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 { // --help
		return exit
	}
	if err != nil {
		fmt.Fprintf(stderr, "idemcheck: %v\nrun 'idemcheck --help' for the commands and flags\n", err)
		return exitUsage
	}
	err = kctx.Run(&env{ctx: ctx, stdout: stdout, stderr: stderr})
	var v violation
	var u usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "idemcheck: %v\nrun 'idemcheck --help' for the commands and flags\n", err)
		return exitUsage
	case errors.As(err, &v):
		fmt.Fprintln(stderr, "idemcheck:", err)
		return exitViolation
	default:
		fmt.Fprintln(stderr, "idemcheck:", err)
		return exitUsage
	}
}

// violation is an error meaning a law was violated (exit code 1), not that
// the run could not be done.
type violation struct{ msg string }

func (v violation) Error() string { return v.msg }
