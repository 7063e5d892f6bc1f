package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far the certification is: on a terminal a bar per law
// redrawn in place (trials, trials/s, time, faults fired so far), otherwise
// a plain line per law every plainEvery trials and when the law is done.
// A transient progress shows only the bar, and clears it when done.
type progress struct {
	e         *env
	tty       bool
	transient bool
	checks    int
	law       harness.Law
	trials    int
	faults    string
	bar       *progressbar.ProgressBar
}

const plainEvery = 25

// newProgress shows progress on e's stderr; checks is the trials per law
// asked for (shrinking may run more).
func newProgress(e *env, checks int) *progress {
	f, ok := e.stderr.(*os.File)
	return &progress{e: e, checks: checks, tty: ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"}
}

// update is properties.Progress's callback.
func (p *progress) update(law harness.Law, trials int, faults map[string]int) {
	if law != p.law {
		p.finish()
		p.law = law
		if p.tty {
			var opts []progressbar.Option
			if p.transient {
				opts = append(opts, progressbar.OptionClearOnFinish())
			}
			p.bar = progressbar.NewOptions(p.checks+properties.SmokeTrials(law), append(opts,
				progressbar.OptionSetWriter(p.e.stderr),
				progressbar.OptionSetWidth(24),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("trials"),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionSetPredictTime(false),
				progressbar.OptionShowDescriptionAtLineEnd(),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionUseANSICodes(true),
			)...)
		}
	}
	p.trials, p.faults = trials, faultText(faults)
	if !p.tty {
		if trials%plainEvery == 0 && !p.transient {
			p.plain()
		}
		return
	}
	if trials > p.bar.GetMax() { // shrinking runs past the checks asked for
		p.bar.ChangeMax(trials)
	}
	p.bar.Describe(fmt.Sprintf("%s: %s", law, p.faults))
	_ = p.bar.Set(trials)
}

func (p *progress) plain() {
	fmt.Fprintf(p.e.stderr, "  %s: %d trials (faults fired: %s)\n", p.law, p.trials, p.faults)
}

// finish ends the current law's display.
func (p *progress) finish() {
	switch {
	case p.law == "":
	case p.tty:
		_ = p.bar.Finish()
		if !p.transient {
			fmt.Fprintln(p.e.stderr)
		}
	case p.transient:
	case p.trials%plainEvery != 0:
		p.plain()
	}
}

// done ends the display.
func (p *progress) done() {
	p.finish()
	p.law = ""
}

// faultText renders fault counts as "kind=n, ...", sorted, or "none yet".
func faultText(faults map[string]int) string {
	var parts []string
	for k, v := range faults {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	if len(parts) == 0 {
		return "none yet"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
