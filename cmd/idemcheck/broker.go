package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/idemcheck/idemcheck/harness/kafka"
)

// brokerCmd runs the embedded Kafka broker on its own, for developing a
// consumer against what certify --consumer runs it on.
type brokerCmd struct {
	Port int `help:"Listen on 127.0.0.1:PORT (0: any free port, printed)." default:"9092"`
}

// Run serves until SIGINT or SIGTERM.
func (c brokerCmd) Run(e *env) error {
	b, err := kafka.EmbeddedOn(c.Port)
	if err != nil {
		return fmt.Errorf("%w (is port %d taken? --port 0 takes any free one)", err, c.Port)
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(e.stdout, "embedded Kafka broker (kfake, a Kafka protocol implementation, not Apache Kafka) at %s; Ctrl-C stops it\n", strings.Join(b.Seeds(), ","))
	<-ctx.Done()
	return nil
}
