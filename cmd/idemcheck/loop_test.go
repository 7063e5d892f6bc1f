package main

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestSignalLoop (IDEMCHECK_LOOP=N, e.g. 50) runs N certifications on the
// URL target, interrupts half of them at a random moment with SIGINT,
// SIGTERM or SIGKILL, then one clean run: no schema, database or role of
// idemcheck may remain but those of the tests' own live run.
func TestSignalLoop(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("IDEMCHECK_LOOP"))
	if n <= 0 {
		t.Skip("takes minutes: set IDEMCHECK_LOOP=50 to run 50 interrupted certifications (.ci/run does)")
	}
	needTools(t, "psql")
	args := []string{"certify", "--sql", "testdata/upsert.sql", "--setup-sql", "testdata/setup.sql", "--laws", "RetryEquivalence,CrashAtomicity",
		"--checks", "30", "--scenario-dir", t.TempDir()}
	sigs := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL}
	counts := map[string]int{}
	for i := range n {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "IDEMCHECK_REAP_AFTER=0s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Millisecond)
			sig := sigs[rand.IntN(len(sigs))]
			cmd.Process.Signal(sig)
			counts[sig.String()]++
		} else {
			counts["uninterrupted"]++
		}
		cmd.Wait()
	}
	// The server ends a killed run's session (and frees its lock) once it
	// notices the connection is gone; then the clean run reaps.
	time.Sleep(time.Second)
	// The clean run reaps like every run of the loop (IDEMCHECK_REAP_AFTER=0s):
	// the last interrupted run may have been killed, and only a later run
	// can reap what it left.
	clean := exec.Command(binary, append(args, "--checks", "3", "--min-coverage", "0")...)
	clean.Env = append(os.Environ(), "IDEMCHECK_REAP_AFTER=0s")
	if out, err := clean.CombinedOutput(); err != nil {
		t.Fatalf("the clean run: %v\n%s", err, out)
	}
	prefix := "idemcheck_"
	own := prefix + testTarget.RunID() + "_"
	var left []string
	err := testTarget.Admin().QueryRow(context.Background(), `SELECT coalesce(array_agg(name), '{}') FROM (
		SELECT 'schema ' || nspname AS name FROM pg_namespace WHERE starts_with(nspname, $1) AND NOT starts_with(nspname, $2)
		UNION ALL SELECT 'database ' || datname FROM pg_database WHERE starts_with(datname, $1) AND NOT starts_with(datname, $2)
		UNION ALL SELECT 'role ' || rolname FROM pg_roles WHERE starts_with(rolname, $1) AND NOT starts_with(rolname, $2)) o`, prefix, own).Scan(&left)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d runs: %v; left after one clean run: %d", n, counts, len(left))
	if len(left) != 0 {
		t.Errorf("left: %v", left)
	}
}
