package main

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

// On a terminal the progress is a bar redrawn in place with the trials and
// the faults fired so far; piped, it is plain lines.
func TestProgressOnATerminalAndOff(t *testing.T) {
	needTools(t, "psql")
	certify := func(laws string) []string {
		return []string{"certify", "--sql", "testdata/upsert.sql", "--setup-sql", "testdata/setup.sql",
			"--laws", laws, "--checks", "30", "--scenario-dir", t.TempDir()}
	}
	args := certify("RetryEquivalence")

	cmd := exec.Command(binary, args...)
	cmd.Env = append(cmd.Environ(), "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	_, err = io.Copy(&screen, tty) // until the command exits (EIO on Linux)
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, screen.String())
	}
	out := screen.String()
	// 34 trials: the law's 4 smoke scenarios, then the 30 random ones.
	for _, want := range []string{"\r", "34/34", "trials/s", "RetryEquivalence: ", "crash-", "certified: every claimed law held"} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal shows no %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "RetryEquivalence: 25 trials") {
		t.Error("plain progress lines on a terminal")
	}

	// Piped, with Determinism too: a law that injects no faults names none.
	code, _, errOut := idemcheck(t, certify("RetryEquivalence,Determinism")...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "  RetryEquivalence: 25 trials (faults fired: ") || !strings.Contains(errOut, "  RetryEquivalence: 34 trials (faults fired: ") || strings.Contains(errOut, "\r") {
		t.Errorf("piped progress is not plain lines every 25 trials and at the end:\n%q", errOut)
	}
	if !strings.Contains(errOut, "  Determinism: 25 trials\n") || strings.Contains(errOut, "Determinism: 25 trials (") {
		t.Errorf("Determinism, which injects no faults, has no plain line without faults:\n%q", errOut)
	}
}
