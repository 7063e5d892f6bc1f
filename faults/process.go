package faults

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is an external writer's command, run in its own process group so
// that a crash kills all of it (the shell and everything it started).
type Process struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	mu     sync.Mutex
	killed bool
}

// running are the processes Start started that have not ended yet.
var running struct {
	sync.Mutex
	procs  map[*Process]bool
	killed bool // KillAll ran: the process is ending, nothing more starts
}

// ErrEnding is what Start returns once KillAll has run.
var ErrEnding = errors.New("faults: the harness is ending (a signal): no command starts now")

// Start starts cmd in a new process group.
func Start(cmd *exec.Cmd) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	running.Lock()
	ending := running.killed
	running.Unlock()
	if ending {
		return nil, ErrEnding
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("faults: start %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	running.Lock()
	if running.procs == nil {
		running.procs = map[*Process]bool{}
	}
	running.procs[p] = true
	ending = running.killed
	running.Unlock()
	if ending { // KillAll ran while it started: it would outlive the harness
		go p.Kill()
	}
	go func() {
		p.err = cmd.Wait()
		running.Lock()
		delete(running.procs, p)
		running.Unlock()
		close(p.done)
	}()
	return p, nil
}

// KillAll kills the process group of every command Start started that is
// still running, and waits for them to be reaped: for a harness about to
// end (a signal), so that no writer outlives it. Start refuses to start
// any command after it (ErrEnding), and kills one whose start it overlapped.
func KillAll() {
	running.Lock()
	running.killed = true
	var procs []*Process
	for p := range running.procs {
		procs = append(procs, p)
	}
	running.Unlock()
	for _, p := range procs {
		p.Kill()
	}
}

// Kill sends SIGKILL to the whole process group and waits for the command
// to be reaped. An external writer's attempt registers it with
// Attempt.SetBeforeCrash, so a crash kills the command first.
func (p *Process) Kill() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Terminate sends SIGTERM to the whole process group, asking the command
// to finish what it holds and exit (a long-running consumer's graceful
// stop), and returns at once; Done tells when it ended.
func (p *Process) Terminate() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
}

// Freeze stops the whole process group (SIGSTOP): it does nothing, not
// even a client library's background heartbeats, until Thaw, as in a long
// garbage-collection pause or a VM stall: how a consumer becomes a zombie.
func (p *Process) Freeze() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGSTOP) }

// Thaw lets a frozen process group go on (SIGCONT).
func (p *Process) Thaw() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT) }

// Done is closed when the command has ended and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Killed reports whether Kill was called.
func (p *Process) Killed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// ErrKilled is what an external writer's attempt ends with when its
// command was killed at a crash point (Kill), not by its own failure.
var ErrKilled = errors.New("faults: the command was killed at a crash point")

// ErrTimeout is returned by Wait when the command ran out of time and was
// killed.
var ErrTimeout = errors.New("faults: the command timed out and was killed")

// Wait waits for the command to end, killing its process group after
// timeout (0: no limit). It returns the command's error, or ErrTimeout.
func (p *Process) Wait(timeout time.Duration) error {
	if timeout <= 0 {
		<-p.done
		return p.err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%w after %v", ErrTimeout, timeout)
	}
}
