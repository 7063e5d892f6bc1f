package main

import (
	"encoding/xml"
	"fmt"
	"os"

	"github.com/idemcheck/idemcheck/properties"
)

// The JUnit XML that CI systems read: one test case per law.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name       string           `xml:"name,attr"`
	ClassName  string           `xml:"classname,attr"`
	Time       float64          `xml:"time,attr"`
	Properties *junitProperties `xml:"properties,omitempty"`
	Failure    *junitMessage    `xml:"failure,omitempty"`
	Skipped    *junitMessage    `xml:"skipped,omitempty"`
	SystemOut  string           `xml:"system-out,omitempty"`
}

// junitProperties carry a law's coverage as name/value pairs, which CI
// systems show beside the test case.
type junitProperties struct {
	Items []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// coverageProperties are l's coverage figures (nil when it has none).
func coverageProperties(l properties.LawReport) *junitProperties {
	var ps []junitProperty
	add := func(name string, v int) { ps = append(ps, junitProperty{Name: name, Value: fmt.Sprint(v)}) }
	if cv := l.Coverage; cv != nil {
		add("coverage.points", cv.Points)
		add("coverage.crashed", cv.Crashed)
	}
	if ex := l.Explored; ex != nil {
		ps = append(ps, junitProperty{Name: "explored.mode", Value: ex.Mode})
		add("explored.scenarios", ex.Scenarios)
		add("explored.points", ex.Points)
		add("explored.states", ex.States)
	}
	if ps == nil {
		return nil
	}
	return &junitProperties{Items: ps}
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes rep as JUnit XML: a violated or inconclusive law is a
// failure carrying its counterexample, an unclaimed one is skipped.
func writeJUnit(path string, rep *properties.Report) error {
	s := junitSuite{Name: "idemcheck: " + rep.Writer}
	for _, l := range rep.Laws {
		c := junitCase{Name: string(l.Law), ClassName: rep.Writer, Time: l.Duration.Seconds(),
			Properties: coverageProperties(l),
			SystemOut:  fmt.Sprintf("%s after %d trials; faults fired: %s; coverage: %s", l.Verdict, l.Trials, orDash(l.FaultSummary()), orDash(l.CoverageSummary()))}
		switch l.Verdict {
		case properties.Violated:
			c.Failure = &junitMessage{Message: l.Counterexample.Summary, Text: l.Counterexample.String()}
			s.Failures++
		case properties.Inconclusive:
			c.Failure = &junitMessage{Message: "inconclusive: " + l.Reason, Text: l.Reason}
			s.Failures++
		case properties.NotClaimed, properties.NotRun:
			c.Skipped = &junitMessage{Message: l.Reason}
			s.Skipped++
		}
		s.Tests++
		s.Time += c.Time
		s.Cases = append(s.Cases, c)
	}
	b, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{s}}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}
