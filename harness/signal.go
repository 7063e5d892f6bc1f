package harness

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what both a pool and a single connection offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// cleanupSignals end the process by default; each first closes the
// targets open in this process. SIGPIPE comes from writing to a closed
// pipe (idemcheck doctor | head -1), SIGHUP from a closed terminal.
var cleanupSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}

// The targets open in this process, closed by the first cleanup signal.
var signals struct {
	sync.Mutex
	targets map[*Target]bool
	ch      chan os.Signal
}

func watchSignals(t *Target) {
	signals.Lock()
	defer signals.Unlock()
	if signals.ch == nil {
		signals.targets = map[*Target]bool{}
		signals.ch = make(chan os.Signal, 1)
		signal.Notify(signals.ch, cleanupSignals...)
		go onSignal(signals.ch)
	}
	signals.targets[t] = true
}

func unwatchSignals(t *Target) {
	signals.Lock()
	defer signals.Unlock()
	delete(signals.targets, t)
}

// onSignal cleans up every open Target, then lets the signal do what it
// would have done without us: end the process.
func onSignal(ch chan os.Signal) {
	sig := <-ch
	signals.Lock()
	var open []*Target
	for t := range signals.targets {
		open = append(open, t)
	}
	signals.Unlock()
	for _, t := range open {
		_ = t.Close()
	}
	signal.Reset(cleanupSignals...)
	if sig == syscall.SIGPIPE {
		// Go's runtime ignores a SIGPIPE nobody asked for, so re-raising it
		// would not end the process: exit as a shell reports that death.
		os.Exit(128 + int(syscall.SIGPIPE))
	}
	_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
}
