package trial

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/internal/scratch"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sys/unix"
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
	extra   map[*func()]bool // CleanupOnSignal's
	ch      chan os.Signal
}

// CleanupOnSignal registers fn to run when a cleanup signal ends the
// process (after the writers' commands are killed, before the targets
// close): for what a run owns besides its sandboxes, such as its topics
// on a Kafka cluster. The function returned unregisters it.
func CleanupOnSignal(fn func()) (unregister func()) {
	signals.Lock()
	defer signals.Unlock()
	if signals.extra == nil {
		signals.extra = map[*func()]bool{}
	}
	signals.extra[&fn] = true
	return func() {
		signals.Lock()
		delete(signals.extra, &fn)
		signals.Unlock()
	}
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

// onSignal kills the writers' commands still running, cleans up every
// open Target and removes this process's scratch files, then lets the
// signal do what it would have done without us: end the process. A
// SIGPIPE counts only when stdout or stderr is a broken pipe: once
// notified, Go delivers every SIGPIPE, also those of a write to a socket
// the fault proxy cut, which must not end the run.
func onSignal(ch chan os.Signal) {
	var sig os.Signal
	for sig = range ch {
		if sig != syscall.SIGPIPE || brokenPipe(1) || brokenPipe(2) {
			break
		}
	}
	signals.Lock()
	var open []*Target
	for t := range signals.targets {
		open = append(open, t)
	}
	var extra []func()
	for fn := range signals.extra {
		extra = append(extra, *fn)
	}
	signals.Unlock()
	faults.KillAll() // the writers' commands still running, before their sandboxes go
	for _, fn := range extra {
		fn()
	}
	for _, t := range open {
		_ = t.Close()
	}
	scratch.RemoveLeft() // the batch files of the attempts that were under way
	signal.Reset(cleanupSignals...)
	if sig == syscall.SIGPIPE {
		// Go's runtime ignores a SIGPIPE nobody asked for, so re-raising it
		// would not end the process: exit as a shell reports that death.
		os.Exit(128 + int(syscall.SIGPIPE))
	}
	_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
}

// brokenPipe reports whether fd is a pipe whose reading end is closed.
func brokenPipe(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLERR != 0
}
