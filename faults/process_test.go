package faults

import (
	"errors"
	"os/exec"
	"testing"
	"time"
)

// KillAll ends every command Start started that still runs, and only
// those.
func TestKillAll(t *testing.T) {
	var procs []*Process
	for range 2 {
		p, err := Start(exec.Command("sh", "-c", "sleep 60 & sleep 60; wait"))
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	done, err := Start(exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Wait(0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	KillAll()
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			t.Fatal("a command still runs after KillAll")
		}
		if !p.Killed() {
			t.Error("KillAll did not kill a command")
		}
	}
	if done.Killed() {
		t.Error("KillAll killed a command that had ended")
	}
	running.Lock()
	n := len(running.procs)
	running.Unlock()
	if n != 0 {
		t.Errorf("%d commands still counted as running", n)
	}
	t.Logf("killed in %s", time.Since(start))
	// Nothing starts after it: a command started then would outlive the
	// harness that is ending.
	if p, err := Start(exec.Command("sleep", "60")); !errors.Is(err, ErrEnding) {
		if p != nil {
			p.Kill()
		}
		t.Errorf("Start after KillAll: %v; want ErrEnding", err)
	}
	running.Lock()
	running.killed = false // for the package's other tests
	running.Unlock()
}
