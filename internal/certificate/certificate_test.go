package certificate

import (
	"bytes"
	"encoding/xml"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
)

// steps is a trial as the driver records it: a crash after a COMMIT ran
// (ambiguous commit), its retry acked, a lost ack, and an error the
// client saw.
var steps = []trial.Step{
	{Delivery: 0, Attempt: 1, Batch: "b1", Plan: "crash-after at commit 1", Outcome: "failed", Err: "unexpected EOF", Events: []faults.Event{
		{Conn: 1, Round: 1, SQL: "BEGIN", Before: 'I', After: 'T'},
		{Conn: 1, Round: 2, SQL: "INSERT INTO t SELECT * FROM <batch>", Before: 'T', After: 'T', Tags: []string{"INSERT 0 1"}},
		{Conn: 1, Round: 3, SQL: "COMMIT", Before: 'T', After: 'I', Committed: true, Fault: &faults.Fault{Kind: faults.CrashAfter, At: faults.AtCommit(1)}},
	}},
	{Delivery: 0, Attempt: 2, Batch: "b1", Plan: "no fault", Outcome: "acked", Events: []faults.Event{
		{Conn: 1, Round: 1, SQL: "INSERT INTO t SELECT 1", Before: 'I', After: 'I', Committed: true},
		{Conn: 2, Round: 2, SQL: "SELECT 1", Before: 'I', After: 'I'},
	}},
	{Delivery: 1, Attempt: 1, Batch: "b2", Plan: "no fault, ack lost", Outcome: "ack lost", Events: []faults.Event{
		{Conn: 1, Round: 1, SQL: "SELECT 1/0", Before: 'I', After: 'I', SQLState: "22012"},
	}},
}

// svgDoc is what the tests read of a timeline.
type svgDoc struct {
	Lanes []struct {
		Delivery int       `xml:"data-delivery,attr"`
		Attempt  int       `xml:"data-attempt,attr"`
		Rounds   []svgMark `xml:"rect"`
		Groups   []svgMark `xml:"g"`
	} `xml:"g"`
}

type svgMark struct {
	Class string `xml:"class,attr"`
	Fill  string `xml:"fill,attr"`
	Title string `xml:"title"`
}

func TestTimelineDrawsEveryAttemptAndMark(t *testing.T) {
	svg := Timeline(steps)
	var doc svgDoc
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("the timeline is not well-formed SVG: %v\n%s", err, svg)
	}
	var lanes []svgDocLane
	for _, l := range doc.Lanes {
		if l.Delivery == 0 {
			continue // the legend
		}
		lane := svgDocLane{delivery: l.Delivery, attempt: l.Attempt}
		for _, r := range l.Rounds {
			if r.Class == "round" {
				lane.rounds = append(lane.rounds, r.Fill)
			}
		}
		for _, g := range l.Groups {
			lane.marks = append(lane.marks, g.Class)
			if g.Class == "fault" && !strings.Contains(g.Title, "COMMIT") {
				t.Errorf("the fault's title does not name its round: %q", g.Title)
			}
		}
		lanes = append(lanes, lane)
	}
	want := []svgDocLane{
		{1, 1, []string{colourInTx, colourInTx, colourInTx}, []string{"commit", "fault", "outcome failed"}},
		{1, 2, []string{colourRound, colourRound}, []string{"commit", "outcome ack"}},
		{2, 1, []string{colourRound}, []string{"outcome ack-lost"}},
	}
	if len(lanes) != len(want) {
		t.Fatalf("%d lanes, want %d:\n%s", len(lanes), len(want), svg)
	}
	for i := range want {
		if g, w := lanes[i], want[i]; g.delivery != w.delivery || g.attempt != w.attempt ||
			strings.Join(g.rounds, " ") != strings.Join(w.rounds, " ") || strings.Join(g.marks, ",") != strings.Join(w.marks, ",") {
			t.Errorf("lane %d: %+v, want %+v", i, g, w)
		}
	}
	if !strings.Contains(svg, `stroke="`+colourError+`"`) {
		t.Error("the round with an error has no error frame")
	}
	if !strings.Contains(svg, ">c2<") {
		t.Error("a round on the attempt's second connection is not labelled c2")
	}
}

type svgDocLane struct {
	delivery, attempt int
	rounds, marks     []string
}

func TestTimelineEscapesWhatTheWriterSent(t *testing.T) {
	evil := []trial.Step{{Batch: "<b>", Plan: "no fault", Outcome: "failed", Err: `</svg><script>alert(1)</script>`,
		Events: []faults.Event{{Conn: 1, Round: 1, SQL: `SELECT '<script>&'`, Before: 'I', After: 'I'}}}}
	svg := Timeline(evil)
	if strings.Contains(svg, "<script>") || strings.Contains(svg, "<b>") {
		t.Errorf("unescaped text in the SVG:\n%s", svg)
	}
	if err := xml.Unmarshal([]byte(svg), new(svgDoc)); err != nil {
		t.Errorf("not well-formed: %v", err)
	}
	if Timeline(nil) != "" {
		t.Error("a timeline without steps is not empty")
	}
}

func certificate() *Certificate {
	return &Certificate{Writer: `exec "./w.sh"`, Way: "url", ServerVersion: "15.20", Seed: 42, Version: "test",
		Made: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		Laws: []properties.LawReport{
			{Law: harness.Determinism, Verdict: properties.NotClaimed, Reason: `exec "./w.sh" does not claim it`},
			{Law: harness.ReplayIdempotence, Verdict: properties.Held, Trials: 30, Faults: map[properties.Injection]int{"replay": 27}, Duration: time.Second},
			{Law: harness.RetryEquivalence, Verdict: properties.Violated, Trials: 12, Faults: map[properties.Injection]int{"crash-after": 5}, InTx: 1, AtCommit: 2, AfterCommit: 3,
				Counterexample: &properties.Counterexample{Law: harness.RetryEquivalence, Summary: "1 row too many | x", Scenario: "batch b1",
					Diff: "(-clean +faulty)\n+ {id: 1}", Steps: steps, ScenarioFile: "s.json", Replay: "idemcheck replay s.json", Batches: 1, Records: 1, Deliveries: 1}},
		}}
}

func TestHTMLHasEveryLawAndTheViolationsTimeline(t *testing.T) {
	var b bytes.Buffer
	if err := certificate().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(b.String())
	for _, want := range []string{
		"Not certified", "15.20 (url)", "42",
		`<td class="verdict-not-claimed">not-claimed</td>`, `<td class="verdict-held">held</td>`, "replay=27",
		`<td class="verdict-violated">violated</td>`, "1 inside a transaction, 2 before a COMMIT, 3 after a commit",
		"RetryEquivalence violated", `<svg xmlns="http://www.w3.org/2000/svg" class="timeline"`, "(-clean +faulty)", "idemcheck replay s.json",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Count(page, "<svg") != 1 {
		t.Errorf("%d timelines, want 1 (one violation)", strings.Count(page, "<svg"))
	}
	if strings.Contains(page, "does not claim it") {
		t.Error("the not-claimed reason (the writer's name again) fills the table")
	}
}

func TestMarkdownLinksEachTimeline(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cert.md")
	if err := certificate().Write(path); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(path)
	for _, want := range []string{"**Not certified**", "| RetryEquivalence | violated | 12 | crash-after=5 |", "![timeline of the failing trial](cert-RetryEquivalence.svg)",
		`1 row too many | x`, "```\n(-clean +faulty)\n+ {id: 1}\n```", "- writer: `exec \"./w.sh\"`"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "cert-RetryEquivalence.svg"))
	if err != nil || xml.Unmarshal(svg, new(svgDoc)) != nil {
		t.Errorf("the timeline beside the Markdown: %v", err)
	}
}

func TestWriteRefusesOtherKinds(t *testing.T) {
	err := certificate().Write(filepath.Join(t.TempDir(), "cert.pdf"))
	if err == nil || !strings.Contains(err.Error(), ".html or .md") {
		t.Errorf("got %v", err)
	}
	if err := certificate().WriteHTML(io.Discard); err != nil {
		t.Error(err)
	}
}

// A consumer process's lane draws its polls and offset commits where
// they happened among its rounds, a fault on the one it met.
func TestTimelineDrawsPollsAndCommits(t *testing.T) {
	consumerLane := trial.Step{Delivery: 0, Attempt: 1, Label: "consumer process 1", Outcome: trial.Stopped,
		Events: []faults.Event{{Conn: 1, Round: 1, SQL: "INSERT INTO t SELECT 1", Before: 'I', After: 'I', Committed: true}},
		Marks: []trial.Mark{
			{Kind: trial.PollMark, AfterRound: 0, Label: "poll 1: 2 records: poll 1 fails with NOT_LEADER_OR_FOLLOWER", Fault: true},
			{Kind: trial.PollMark, AfterRound: 0, Label: "poll 2: 2 records"},
			{Kind: trial.CommitMark, AfterRound: 1, Label: "offset commit 1"},
		}}
	svg := Timeline([]trial.Step{consumerLane})
	var doc svgDoc
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("the timeline is not well-formed SVG: %v\n%s", err, svg)
	}
	var got []string
	for _, l := range doc.Lanes {
		if l.Delivery == 0 {
			continue // the legend
		}
		for _, g := range l.Groups {
			got = append(got, g.Class)
		}
	}
	if want := "commit,poll,fault,poll,mark,outcome ack"; strings.Join(got, ",") != want {
		t.Errorf("the consumer lane draws %v, want %s:\n%s", got, want, svg)
	}
	if n := strings.Count(svg, colourPoll); n != 3 {
		t.Errorf("%d marks of the poll colour, want the legend's and 2 polls'", n)
	}
}
