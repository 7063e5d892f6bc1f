package faults

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPlanPrintsAndParsesBack(t *testing.T) {
	plans := []Plan{
		nil,
		{{Kind: CrashBefore, At: AtRound(3)}},
		{{Kind: CrashAfter, At: AtCommit(1)}},
		{{Kind: CrashInCopy, CopyData: 5, At: AtCopy(1)}},
		{{Kind: Error, SQLState: "40001", At: AtStmt(1, 2)}, {Kind: Pause, At: AtRound(2)}},
		{{Kind: Delay, Delay: 10 * time.Millisecond, At: AtRound(4)}},
	}
	for _, p := range plans {
		s := p.String()
		got, err := ParsePlan(s)
		if err != nil {
			t.Fatalf("ParsePlan(%q): %v", s, err)
		}
		if got.String() != s {
			t.Errorf("%q parsed back as %q", s, got)
		}
	}
	if s := (Plan{{Kind: CrashAfter, At: AtCommit(2)}}).String(); s != "crash-after at commit 2" {
		t.Errorf("plan prints as %q", s)
	}
}

func TestParsePlanErrorsSayWhatIsWrong(t *testing.T) {
	for in, want := range map[string]string{
		"explode at round 1":        `unknown fault kind "explode"`,
		"crash-before round 1":      `want "<kind> [arg] at <point>"`,
		"error 23505 at round 1":    "SQLSTATE 23505 cannot be injected",
		"error at round 1":          "error takes 1 argument",
		"crash-in-copy x at copy 1": `"x" is not a number of CopyData messages`,
		"pause at statement 2":      `a point is "round N", "commit N", "copy N" or "tx N stmt M"`,
		"pause at round 0":          `"0" is not a positive number`,
	} {
		_, err := ParsePlan(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePlan(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}

// FuzzMessages feeds arbitrary bytes to the proxy's message framing and
// decoding: they must return an error (wrapping ErrMalformed when the bytes
// break the protocol) and never panic. The seeds are messages of real
// sessions.
func FuzzMessages(f *testing.F) {
	seeds := [][]byte{
		[]byte("Q\x00\x00\x00\x0dSELECT 1\x00"),
		[]byte("P\x00\x00\x00\x16s1\x00SELECT $1\x00\x00\x01\x00\x00\x00\x17"),
		[]byte("B\x00\x00\x00\x12\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"),
		[]byte("S\x00\x00\x00\x04"),
		[]byte("d\x00\x00\x00\x08abcd"),
		[]byte("C\x00\x00\x00\x0bINSERT 0 1\x00"),
		[]byte("E\x00\x00\x00\x0fC40001\x00Mx\x00\x00"),
		[]byte("Z\x00\x00\x00\x05I"),
		[]byte("Q\xff\xff\xff\xff"),
		[]byte("Q\x00\x00"),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		prepared := map[string]string{}
		for {
			m, err := readMessage(r)
			if err != nil {
				return
			}
			if _, _, err := clientSQL(m, prepared); err != nil {
				continue
			}
			_, _, _ = serverTag(m)
		}
	})
}

func FuzzStartup(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x08\x04\xd2\x16\x2f"))                                 // SSLRequest
	f.Add([]byte("\x00\x00\x00\x17\x00\x03\x00\x00user\x00postgres\x00\x00"))         // StartupMessage
	f.Add([]byte("\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x00\x01\x00\x00\x00\x02")) // CancelRequest
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = readStartup(bufio.NewReader(bytes.NewReader(data)))
	})
}
