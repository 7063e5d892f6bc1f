package trial

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/internal/scratch"
)

func countSandboxes(t *testing.T, runID string) int {
	t.Helper()
	var n int
	err := target.Admin().QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, $1))
		     + (SELECT count(*) FROM pg_database WHERE starts_with(datname, $1))`, SandboxPrefix+runID+"_").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStaleSandboxesAreReaped checks that a new run reaps the sandboxes of
// dead runs older than its threshold, and nothing else. The "old" ones are
// 5 minutes old and the run reaps after 1 minute: other test processes
// sharing the server (go test ./... runs packages at once) reap after
// DefaultReapAfter, so they leave them to this run, whose count is checked.
func TestStaleSandboxesAreReaped(t *testing.T) {
	ctx := context.Background()
	admin := target.Admin()
	old := time.Now().Add(-5 * time.Minute).Unix()
	deadOld := fmt.Sprintf("%sdeadbeef_%d_1", SandboxPrefix, old)
	deadYoung := fmt.Sprintf("%sdeadbee0_%d_1", SandboxPrefix, time.Now().Unix())
	liveOld := fmt.Sprintf("%s%s_%d_999", SandboxPrefix, target.RunID(), old) // the running test's own run
	deadOldDB := fmt.Sprintf("%sdeadbee1_%d_2", SandboxPrefix, old)
	for _, s := range []string{deadOld, deadYoung, liveOld} {
		if _, err := admin.Exec(ctx, "CREATE SCHEMA "+quote(s)+"; CREATE TABLE "+quote(s)+".t (id int)"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+quote(deadOldDB)+" TEMPLATE template0"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range []string{deadYoung, liveOld} {
			_, _ = admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+quote(s)+" CASCADE")
		}
	}()

	next, err := OpenTarget(ctx, URL(target.ConnString()), ReapAfter(time.Minute), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if next.Reaped() < 2 {
		t.Errorf("reaped %d, want at least the 2 old sandboxes of dead runs", next.Reaped())
	}
	exists := func(name string) bool {
		var n int
		_ = admin.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1) + (SELECT count(*) FROM pg_database WHERE datname = $1)`, name).Scan(&n)
		return n > 0
	}
	for name, want := range map[string]bool{deadOld: false, deadOldDB: false, deadYoung: true, liveOld: true} {
		if got := exists(name); got != want {
			t.Errorf("%s exists = %v, want %v", name, got, want)
		}
	}
}

// TestInterruptCleansUp runs a child process that opens a target, creates
// sandboxes and waits; SIGINT, SIGTERM, SIGHUP and SIGPIPE must leave no
// sandbox or role and, for a local cluster, no server or directory behind.
// After a SIGKILL, which nothing can catch, the next run reaps what the
// killed one left.
func TestInterruptCleansUp(t *testing.T) {
	for _, tc := range []struct {
		way string
		sig syscall.Signal
	}{{"url", syscall.SIGINT}, {"url", syscall.SIGTERM}, {"url", syscall.SIGHUP}, {"url", syscall.SIGPIPE}, {"local", syscall.SIGINT}, {"url", syscall.SIGKILL}} {
		t.Run(tc.way+"/"+tc.sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "IDEMCHECK_TEST_CHILD="+tc.way, "IDEMCHECK_TEST_URL="+target.ConnString())
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			var runID, dir, url string
			sc := bufio.NewScanner(out)
			if !sc.Scan() {
				t.Fatalf("child said nothing: %v", sc.Err())
			}
			if _, err := fmt.Sscanf(sc.Text(), "ready %s %s %s", &runID, &url, &dir); err != nil {
				t.Fatalf("child said %q: %v", sc.Text(), err)
			}
			if tc.way == "url" && countRunObjects(t, runID) != 4 {
				t.Fatalf("child should have 3 sandboxes and its role before the signal")
			}
			if tc.sig == syscall.SIGPIPE {
				// As in idemcheck doctor | head -1: the reader is gone. A
				// SIGPIPE while stdout and stderr are whole (a write to a
				// socket the fault proxy cut) must not end the run.
				if err := cmd.Process.Signal(tc.sig); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				if n := countRunObjects(t, runID); n != 4 {
					t.Fatalf("a SIGPIPE with stdout whole cleaned up the run (%d objects left)", n)
				}
				out.Close()
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			switch {
			case tc.sig == syscall.SIGPIPE: // exits 128+13, as a shell reports a death by SIGPIPE
				if ws.ExitStatus() != 141 {
					t.Errorf("child should exit 141 after cleaning up, got %v", err)
				}
			case !ws.Signaled() || ws.Signal() != tc.sig:
				t.Errorf("child should die of %v after cleaning up, got %v", tc.sig, err)
			}
			if tc.sig == syscall.SIGKILL {
				if n := countRunObjects(t, runID); n != 4 {
					t.Fatalf("%d objects left by a killed run, want its 3 sandboxes and its role", n)
				}
				// Its run lock goes with its session, which the server ends
				// when it notices the connection is gone.
				for deadline := time.Now().Add(10 * time.Second); countRunObjects(t, runID) > 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					next, err := OpenTarget(context.Background(), URL(target.ConnString()), ReapAfter(0), NoSignalHandling())
					if err != nil {
						t.Fatal(err)
					}
					next.Close()
				}
			}
			if tc.way == "url" {
				if n := countRunObjects(t, runID); n != 0 {
					t.Errorf("%d sandboxes or roles left after %v", n, tc.sig)
				}
				return
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cluster directory %s left after %v", dir, tc.sig)
			}
		})
	}
}

// countRunObjects counts the schemas, databases and roles of a run.
func countRunObjects(t *testing.T, runID string) int {
	t.Helper()
	var n int
	if err := target.Admin().QueryRow(context.Background(), `SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)`, SandboxPrefix+runID+"_").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n + countSandboxes(t, runID)
}

// runChild is the child of TestInterruptCleansUp: it prints its run id and
// waits to be interrupted.
func runChild(way string) int {
	ctx := context.Background()
	opts := []TargetOption{ByWay(Way(way))}
	if way == "url" {
		opts = append(opts, URL(os.Getenv("IDEMCHECK_TEST_URL")))
	}
	tg, err := OpenTarget(ctx, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for range 3 {
		if _, err := tg.NewSandbox(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	dir := "-"
	for _, f := range strings.Fields(tg.String()) {
		if strings.Contains(f, localDirPrefix) {
			dir = f
		}
	}
	fmt.Printf("ready %s %s %s\n", tg.RunID(), "-", dir)
	time.Sleep(time.Minute)
	return 4
}

// Closing a target while trials are still creating sandboxes (laws run
// concurrently; a signal closes the target under them) leaves nothing:
// Close waits for the sandboxes being created, drops them with the rest,
// and refuses new ones with ErrClosed.
func TestCloseWhileSandboxesAreCreated(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		tg, err := OpenTarget(ctx, URL(target.ConnString()), NoSignalHandling())
		if err != nil {
			t.Fatal(err)
		}
		id := tg.RunID()
		var wg sync.WaitGroup
		refused := make(chan bool, 4)
		for range 4 {
			wg.Go(func() {
				for {
					if _, err := tg.NewSandbox(ctx); err != nil {
						refused <- errors.Is(err, ErrClosed)
						return
					}
				}
			})
		}
		time.Sleep(time.Duration(20+10*round) * time.Millisecond)
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for range 4 {
			if !<-refused {
				t.Error("a sandbox creation after Close failed with another error than ErrClosed")
			}
		}
		var left int
		if err := target.Admin().QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, $1)`, SandboxPrefix+id+"_").Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("round %d: %d sandboxes of the closed run remain", round, left)
		}
	}
}

// The directories of ephemeral clusters a killed harness left are removed
// by the next local start, wherever scratch.Dir put them; those of a
// running server, and those just being made, are kept.
func TestLeftClusterDirsAreReaped(t *testing.T) {
	old := time.Now().Add(-2 * time.Minute)
	type left struct {
		dir  string
		pid  int // in data/postmaster.pid; 0: none
		aged bool
		gone bool // the reaper should remove it
	}
	var dirs []left
	for _, parent := range scratch.Dirs() {
		dirs = append(dirs,
			left{pid: 0, aged: true, gone: true},
			left{pid: 1 << 22, aged: true, gone: true}, // above pid_max: no such process
			left{pid: os.Getpid(), aged: true, gone: false},
			left{pid: 0, aged: false, gone: false},
		)
		for i := len(dirs) - 4; i < len(dirs); i++ {
			d, err := os.MkdirTemp(parent, localDirPrefix)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(d) })
			dirs[i].dir = d
			if dirs[i].pid != 0 {
				if err := os.MkdirAll(filepath.Join(d, "data"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, "data", "postmaster.pid"), fmt.Appendf(nil, "%d\n/data\n", dirs[i].pid), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if dirs[i].aged {
				if err := os.Chtimes(d, old, old); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	reapLocalDirs()
	for _, l := range dirs {
		_, err := os.Stat(l.dir)
		if gone := errors.Is(err, os.ErrNotExist); gone != l.gone {
			t.Errorf("%s (postmaster pid %d, two minutes old %v): removed %v, want %v", l.dir, l.pid, l.aged, gone, l.gone)
		}
	}
}
