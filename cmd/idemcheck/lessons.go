package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/internal/certificate"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
)

type lessonsCmd struct {
	targetFlags
	Name       string        `arg:"" optional:"" help:"One lesson (e.g. NaiveInsert); default: all of them."`
	AllLaws    bool          `help:"Show every law each anti-pattern breaks, not only the first."`
	Checks     int           `help:"Trials per law." default:"50"`
	ShrinkTime time.Duration `help:"The most time to spend shrinking each counterexample." default:"10s"`
	Parallel   int           `help:"Trials run at once (0: twice the number of CPUs, fewer if the server has few spare connections)." default:"0" placeholder:"N"`
	JSON       string        `name:"json" help:"Also write the results as JSON to this file (- for stdout)." placeholder:"FILE"`
	Report     string        `help:"Write one page that teaches every lesson run (story, timeline, diff, fix): .html, or .md with each timeline an .svg beside it." placeholder:"FILE"`
	Keep       bool          `help:"Keep each caught lesson's faulty state on the server for inspection (each counterexample says where, and how to drop it); by default a lesson leaves nothing behind."`
}

type lessonResult struct {
	AntiPattern string   `json:"antipattern"`
	Source      string   `json:"source,omitempty"` // the public bug report the lesson renders
	Tags        []string `json:"tags,omitempty"`
	Law         string   `json:"law"`
	Caught      bool     `json:"caught"`
	Trials      int      `json:"trials"`
	Summary     string   `json:"summary"`
	Fix         string   `json:"fix"`
	FixHeld     bool     `json:"fix_held"`
	FixTrials   int      `json:"fix_trials"`
	// Batches, Records and Deliveries (Processes, for a consumer) size
	// the minimal counterexample.
	Batches    int `json:"batches,omitempty"`
	Records    int `json:"records,omitempty"`
	Deliveries int `json:"deliveries,omitempty"`
	Processes  int `json:"processes,omitempty"`

	run certificate.LessonRun // for --report
}

// Run breaks each anti-pattern live, shows the minimal counterexample,
// then shows its fix holding the same law.
func (c lessonsCmd) Run(e *env) error {
	lessons := antipatterns.Catalog()
	consumers, queues := consumerLessonsNamed(c.Name), queueLessonsNamed(c.Name)
	if c.Name != "" {
		l, ok := antipatterns.Lookup(c.Name)
		switch {
		case ok:
			lessons = []antipatterns.Lesson{l}
		case len(consumers)+len(queues) > 0:
			lessons = nil
		default:
			var names []string
			for _, l := range lessons {
				names = append(names, l.Name)
			}
			for _, l := range consumerLessonsNamed("") {
				names = append(names, l.Name())
			}
			for _, l := range queueLessonsNamed("") {
				names = append(names, l.Name())
			}
			return usageError{fmt.Sprintf("no lesson %q; the lessons are %s", c.Name, strings.Join(names, ", "))}
		}
	}
	if err := checkReportPath(c.Report); err != nil {
		return err
	}
	tg, err := c.open(e.ctx, e.stderr)
	if err != nil {
		return err
	}
	defer tg.Close()
	fmt.Fprintf(e.stdout, "idemcheck lessons on %s\n", tg)
	dir, err := os.MkdirTemp("", "idemcheck-lessons-")
	if err != nil {
		return err
	}
	var results []lessonResult
	missed := 0
	for i, l := range lessons {
		laws := l.Violates
		if !c.AllLaws {
			laws = laws[:1]
		}
		fmt.Fprintf(e.stdout, "\n━━ %d/%d %s: %s\n   consequence: %s\n", i+1, len(lessons)+len(consumers)+len(queues), l.Name, l.AntiPattern, l.Consequence)
		for _, law := range laws {
			r, err := c.lesson(e, tg, l, law, dir)
			if err != nil {
				return err
			}
			if !r.Caught || !r.FixHeld {
				missed++
			}
			results = append(results, r)
		}
	}
	total := len(lessons) + len(consumers) + len(queues)
	more, err := c.consumerLessons(e, tg, consumers, len(lessons)+1, total)
	if err != nil {
		return err
	}
	onQueues, err := c.queueLessons(e, tg, queues, len(lessons)+len(consumers)+1, total)
	if err != nil {
		return err
	}
	more = append(more, onQueues...)
	for _, r := range more {
		if !r.Caught || !r.FixHeld {
			missed++
		}
	}
	results = append(results, more...)
	if c.JSON != "" {
		if err := writeJSON(c.JSON, e.stdout, results); err != nil {
			return err
		}
	}
	if c.Report != "" {
		page := &certificate.Lessons{Way: string(tg.Way()), ServerVersion: tg.ServerVersion(), Version: version, Made: time.Now()}
		for _, r := range results {
			page.Runs = append(page.Runs, r.run)
		}
		if err := page.Write(c.Report); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nthe lessons are in %s\n", c.Report)
	}
	fmt.Fprintf(e.stdout, "\n%d lesson(s): %d caught and fixed, %d not\n", len(results), len(results)-missed, missed)
	if missed > 0 {
		return violation{fmt.Sprintf("%d lesson(s) did not show their anti-pattern caught and its fix holding", missed)}
	}
	return nil
}

func (c lessonsCmd) lesson(e *env, tg *trial.Target, l antipatterns.Lesson, law harness.Law, dir string) (lessonResult, error) {
	opts := []properties.Option{properties.OnTarget(tg), properties.Claim(law), properties.Checks(c.Checks), properties.ScenarioDir(dir),
		properties.ShrinkTime(c.ShrinkTime), properties.Parallel(c.Parallel),
		properties.WriterName("antipatterns." + l.Name)}
	if !c.Keep {
		opts = append(opts, properties.DiscardFaultyStates())
	}
	recs := properties.Orders()
	if l.WholePartitions {
		recs = recs.PartitionBy(func(o harness.Order) string { return o.EventDate.String() })
	}
	if l.ModuloSurrogateKeys {
		opts = append(opts, properties.Compare(trial.ModuloSurrogateKeys()))
	}
	r := lessonResult{AntiPattern: l.Name, Source: l.Source, Tags: l.Tags, Law: string(law), Fix: l.Fix}
	r.run = certificate.LessonRun{Name: l.Name, AntiPattern: l.AntiPattern, Consequence: l.Consequence, Source: l.Source, Tags: l.Tags,
		Story: l.Story, Why: l.Why, Law: string(law), Fix: l.Fix}
	progress := newProgress(e, c.Checks, []harness.Law{law})
	progress.transient = true // the lesson's own lines say what happened
	opts = append(opts, properties.Progress(progress.update))
	broken, _ := properties.CheckRecords(e.ctx, func() harness.Writer[harness.Order] { return l.Broken }, recs, opts...)
	progress.done()
	if broken == nil {
		return r, fmt.Errorf("lessons: %s could not be checked", l.Name)
	}
	lr := lawOf(broken, law)
	r.Trials = lr.Trials
	if lr.Verdict == properties.Violated {
		r.Trials = lr.FirstFailure
		r.Caught = true
		r.Summary = lr.Counterexample.Summary
		r.Batches, r.Records, r.Deliveries = lr.Counterexample.Batches, lr.Counterexample.Records, lr.Counterexample.Deliveries
		r.run.Caught, r.run.Counterexample = true, lr.Counterexample
		fmt.Fprintf(e.stdout, "   breaks %s (caught at trial %d, shrunk to %s):\n", law, lr.FirstFailure, lr.Counterexample.Size())
		fmt.Fprintf(e.stdout, "%s\n", indentBy(lr.Counterexample.String(), "   │ "))
	} else {
		fmt.Fprintf(e.stdout, "   NOT caught by %s in %d trials (%s): raise --checks\n", law, lr.Trials, lr.Verdict)
	}
	fixed, _ := properties.CheckRecords(e.ctx, func() harness.Writer[harness.Order] { return l.Fixed }, recs, append(opts, properties.WriterName(l.Fix))...)
	progress.done()
	if fixed == nil {
		return r, fmt.Errorf("lessons: fix %s could not be checked", l.Fix)
	}
	fr := lawOf(fixed, law)
	r.FixHeld = fr.Verdict == properties.Held
	r.FixTrials = fr.Trials
	r.run.FixVerdict = fr.Verdict
	fmt.Fprintf(e.stdout, "   fix: %s, %s %s over %d trials (faults fired: %s)\n", l.Fix, law, fr.Verdict, fr.Trials, orDash(fr.FaultSummary()))
	return r, nil
}

func lawOf(rep *properties.Report, law harness.Law) properties.LawReport {
	for _, l := range rep.Laws {
		if l.Law == law {
			return l
		}
	}
	return properties.LawReport{Law: law}
}

func indentBy(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
