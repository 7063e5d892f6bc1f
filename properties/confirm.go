package properties

import (
	"fmt"
	"strings"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// confirm re-runs a first failure, and checks the writer's determinism on
// its batches, before it is reported. It returns the finding to report:
// f, with the confirming run's sandbox when f's run was shared (the law's
// own run is the one kept), or the finding that two clean runs differ,
// which settles every law. It returns nil when the failure does not
// reproduce.
func (c *checker[R]) confirm(law harness.Law, sc harness.Scenario[R], f *finding) (*finding, error) {
	again, _, err := c.judge(law, sc)
	if err != nil {
		return nil, err
	}
	if again == nil {
		c.releaseFinding(f)
		return nil, nil
	}
	confirmed := *f
	if f.shared {
		confirmed.obs, confirmed.shared = again.obs, false
	} else {
		c.releaseFinding(again)
	}
	if law != harness.Determinism {
		// Determinism first: if two clean runs differ, that is the finding.
		if d, err := c.cleanRunsDiff(sc.Batches); err == nil && d != nil {
			nf := nondeterministicFinding(d)
			nf.obs, nf.shared = confirmed.obs, confirmed.shared
			return nf, nil
		}
	}
	return &confirmed, nil
}

// counterexample reports sc's finding f for law: the scenario, the
// timeline and diff, the sandbox kept for inspection (see keep) and, when
// save, the scenario file Replay re-runs.
func (c *checker[R]) counterexample(law harness.Law, sc harness.Scenario[R], f *finding, save bool) *Counterexample {
	ce := &Counterexample{Law: law, Summary: f.summary, Scenario: sc.String(), Batches: len(sc.Batches), Deliveries: len(sc.Deliveries)}
	for _, b := range sc.Batches {
		ce.Records += len(b.Records)
	}
	if f.diff != nil {
		ce.Diff = f.diff.String()
	}
	if f.obs != nil {
		var b strings.Builder
		for _, s := range f.obs.Steps {
			fmt.Fprintln(&b, s)
			for _, e := range s.Events {
				fmt.Fprintln(&b, "   ", e)
			}
		}
		ce.Timeline = b.String()
		ce.Steps = f.obs.Steps
		c.keep(law, f.obs.Sandbox)
		if sb := f.obs.Sandbox; sb.Kept() {
			ce.Sandbox = sb.String()
			if w := c.tg.Way(); w != trial.WayURL {
				ce.Sandbox += fmt.Sprintf(" (on the %s way's throwaway server, gone when this run ends; set %s to keep it)", w, trial.EnvDatabaseURL)
			} else {
				ce.DropSandbox = sb.DropSQL()
			}
		}
	}
	if !save {
		return ce
	}
	if file, err := saveScenario(c.set.scenarioDir, c.writer, law, sc); err == nil {
		ce.ScenarioFile = file
		ce.Replay = fmt.Sprintf("properties.Replay(t, newWriter, %q), or: idemcheck replay %s", file, file)
	} else {
		ce.Replay = "the scenario could not be saved: " + err.Error()
	}
	return ce
}
