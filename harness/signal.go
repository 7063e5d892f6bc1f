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

// The targets open in this process, closed by the first SIGINT or SIGTERM.
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
		signal.Notify(signals.ch, syscall.SIGINT, syscall.SIGTERM)
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
	signal.Reset(syscall.SIGINT, syscall.SIGTERM)
	_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
}
