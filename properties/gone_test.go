package properties_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
)

// A server that dies (kill -9 of the postmaster) or crashes and restarts
// (kill -9 of one of its processes: PostgreSQL ends every connection and
// recovers) under a certification ends it with an error that names the
// server and wraps trial.ErrTargetGone; no law is held.
func TestServerGoneIsNeverHeld(t *testing.T) {
	for _, tc := range []struct {
		name   string
		victim string // the process killed, by pg_stat_activity's backend_type ("" for the postmaster)
	}{{"postmaster killed", ""}, {"crash and restart", "checkpointer"}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tg, err := trial.OpenTarget(ctx, trial.ByWay(trial.WayLocal), trial.NoSignalHandling())
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			pid, err := victimPID(ctx, tg, tc.victim)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				rep *properties.Report
				err error
			}
			done := make(chan result, 1)
			started := make(chan bool, 1)
			go func() {
				rep, err := properties.CheckRecords(ctx, func() W { return lateLoader{InTx: true} }, orders(true), properties.OnTarget(tg),
					properties.Laws(harness.RetryEquivalence, harness.CrashAtomicity), properties.Checks(1000), properties.MinCoverage(0),
					properties.Progress(func(harness.Law, int, map[properties.Injection]int) {
						select {
						case started <- true:
						default:
						}
					}))
				done <- result{rep, err}
			}()
			<-started
			time.Sleep(300 * time.Millisecond)
			if pid <= 1 {
				t.Fatalf("no server pid: %d", pid)
			}
			t.Logf("killing %d", pid)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("the certification did not end after the server went away")
			}
			if !errors.Is(r.err, trial.ErrTargetGone) {
				t.Fatalf("Check's error %v does not wrap ErrTargetGone", r.err)
			}
			if !strings.Contains(r.err.Error(), "ephemeral cluster") {
				t.Errorf("the error does not name the server: %v", r.err)
			}
			for _, l := range r.rep.Laws {
				if l.Verdict == properties.Held || l.Verdict == properties.Violated {
					t.Errorf("%s: %s on a server that went away", l.Law, l.Verdict)
				}
			}
			t.Logf("%v", r.err)
		})
	}
}

// victimPID is the pid of the server process of the given backend type,
// or of the postmaster (its data directory's postmaster.pid names it).
func victimPID(ctx context.Context, tg *trial.Target, backendType string) (int, error) {
	var pid int
	if backendType != "" {
		err := tg.Admin().QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE backend_type = $1`, backendType).Scan(&pid)
		return pid, err
	}
	var file string
	if err := tg.Admin().QueryRow(ctx, `SELECT pg_read_file('postmaster.pid')`).Scan(&file); err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(file, "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}
