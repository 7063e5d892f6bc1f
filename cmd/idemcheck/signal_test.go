package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/internal/scratch"
)

// A signal ends a certification with nothing of its writer left on the
// machine: the command still running is killed (with its process group)
// and its batch file removed. The schemas, databases and roles are
// TestSignalLoop's and harness/trial's TestInterruptCleansUp's.
func TestSignalEndsTheWriterAndItsBatchFile(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "pid")
			hang := filepath.Join(dir, "hang.sh")
			if err := os.WriteFile(hang, []byte("#!/bin/sh\nsleep 60 &\necho $! > "+pidFile+"\nwait\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, "certify", "--exec", hang, "--setup-sql", "testdata/setup.sql", "--laws", "Determinism",
				"--checks", "1", "--scenario-dir", dir)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			var pid int
			for deadline := time.Now().Add(time.Minute); pid == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the writer did not start within a minute")
				}
				b, _ := os.ReadFile(pidFile)
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
			batchFiles := func() []string {
				var found []string
				for _, d := range scratch.Dirs() {
					f, _ := filepath.Glob(filepath.Join(d, fmt.Sprintf("idemcheck-batch-%d-*", cmd.Process.Pid)))
					found = append(found, f...)
				}
				return found
			}
			if len(batchFiles()) == 0 {
				t.Fatal("no batch file while the writer runs")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			// The writer's child, in its process group, is gone (once its
			// new parent has reaped it).
			for deadline := time.Now().Add(5 * time.Second); !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("the writer's process %d outlived idemcheck's %v", pid, sig)
				}
			}
			if left := batchFiles(); len(left) > 0 {
				t.Errorf("batch files left after %v: %v", sig, left)
			}
		})
	}
}
