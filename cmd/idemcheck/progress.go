package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far the certification is. Laws run concurrently, so
// on a terminal it is one bar over all laws' trials, redrawn in place,
// with trials/s, the time, and the law last heard from with its faults
// fired so far; otherwise a plain line per law every plainEvery of its
// trials, and at the end one line per law (in the laws' order) with its
// count. A transient progress shows only the bar, and clears it when
// done.
type progress struct {
	e         *env
	tty       bool
	transient bool
	max       int // the trials asked for, over all laws

	mu     sync.Mutex
	laws   []harness.Law // in the order first heard from
	trials map[harness.Law]int
	faults map[harness.Law]string
	bar    *progressbar.ProgressBar
}

const plainEvery = 25

// newProgress shows progress on e's stderr; checks is the trials per law
// asked for (the smoke scenarios come on top), laws the laws checked.
func newProgress(e *env, checks int, laws []harness.Law) *progress {
	f, ok := e.stderr.(*os.File)
	p := &progress{e: e, tty: ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"}
	for _, l := range laws {
		p.max += checks + properties.SmokeTrials(l)
	}
	return p
}

// update is properties.Progress's callback; laws call it concurrently.
func (p *progress) update(law harness.Law, trials int, faults map[properties.Injection]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.trials == nil {
		p.trials, p.faults = map[harness.Law]int{}, map[harness.Law]string{}
	}
	if _, seen := p.trials[law]; !seen {
		p.laws = append(p.laws, law)
	}
	p.trials[law], p.faults[law] = trials, faultText(faults)
	if !p.tty {
		if trials%plainEvery == 0 && !p.transient {
			p.plain(law)
		}
		return
	}
	if p.bar == nil {
		var opts []progressbar.Option
		if p.transient {
			opts = append(opts, progressbar.OptionClearOnFinish())
		}
		p.bar = progressbar.NewOptions(p.max, append(opts,
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
	total := 0
	for _, n := range p.trials {
		total += n
	}
	if total > p.bar.GetMax() {
		p.bar.ChangeMax(total)
	}
	desc := fmt.Sprintf("%d law(s); %s", len(p.laws), law)
	if f := p.faults[law]; f != "" {
		desc += ": " + f
	}
	p.bar.Describe(desc)
	_ = p.bar.Set(total)
}

func (p *progress) plain(law harness.Law) {
	if f := p.faults[law]; f != "" {
		fmt.Fprintf(p.e.stderr, "  %s: %d trials (faults fired: %s)\n", law, p.trials[law], f)
		return
	}
	fmt.Fprintf(p.e.stderr, "  %s: %d trials\n", law, p.trials[law])
}

// done ends the display: on a terminal the bar, otherwise each law's last
// count not yet shown, in the laws' order.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.tty && p.bar != nil:
		_ = p.bar.Finish()
		if !p.transient {
			fmt.Fprintln(p.e.stderr)
		}
	case !p.tty && !p.transient:
		sort.SliceStable(p.laws, func(i, j int) bool { return lawIndex(p.laws[i]) < lawIndex(p.laws[j]) })
		for _, l := range p.laws {
			if p.trials[l]%plainEvery != 0 {
				p.plain(l)
			}
		}
	}
	p.laws, p.trials, p.faults, p.bar = nil, nil, nil, nil
}

// lawIndex is law's place in harness.AllLaws.
func lawIndex(law harness.Law) int {
	for i, l := range harness.AllLaws {
		if l == law {
			return i
		}
	}
	return len(harness.AllLaws)
}

// faultText renders fault counts as "kind=n, ...", sorted, or "" when
// none fired, and then the progress names none: a law that injects no
// faults (Determinism, IncrementalEquivalence) never fires any, so "none
// yet" would mislead.
func faultText(faults map[properties.Injection]int) string {
	var parts []string
	for k, v := range faults {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
