package certificate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
)

func lessonsPage() *Lessons {
	return &Lessons{Way: "local", ServerVersion: "15.20", Version: "test", Made: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		Runs: []LessonRun{
			{Name: "KafkaJDBCSinkOffsetsAfterWrite", AntiPattern: "offsets after the write", Consequence: "duplicates",
				Source: "https://github.com/confluentinc/kafka-connect-jdbc/issues/874", Tags: []string{"kafka-connect", "<offsets>"},
				Story: "the worker died </p><script>x</script>", Why: "RetryEquivalence crashes between the commits", Law: string(harness.RetryEquivalence),
				Caught: true, Fix: "KafkaJDBCSink{OffsetsInTx: true}", FixVerdict: properties.Held,
				Counterexample: &properties.Counterexample{Law: harness.RetryEquivalence, Summary: "1 row extra", Scenario: "batch b1", Diff: "+ {id: 1}", Steps: steps}},
			{Name: "DltMergeWithoutKey", AntiPattern: "merge without a key", Consequence: "rows lost", Law: string(harness.IncrementalEquivalence),
				Caught: true, Fix: "Upsert", FixVerdict: properties.Held,
				Counterexample: &properties.Counterexample{Law: harness.IncrementalEquivalence, Summary: "1 row missing", Scenario: "batch b1; batch b2"}},
		}}
}

// The page teaches every lesson run: its source, story, why, the caught
// counterexample with its timeline (when the law has one) and the fix;
// what writers and reports wrote is escaped.
func TestLessonsPage(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"lessons.html", "lessons.md"} {
		path := filepath.Join(dir, name)
		if err := lessonsPage().Write(path); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		for _, want := range []string{"KafkaJDBCSinkOffsetsAfterWrite", "DltMergeWithoutKey", "https://github.com/confluentinc/kafka-connect-jdbc/issues/874",
			"RetryEquivalence crashes between the commits", "1 row extra", "1 row missing", "KafkaJDBCSink{OffsetsInTx: true}"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		if strings.HasSuffix(name, ".html") {
			if strings.Count(page, `class="timeline"`) != 1 || strings.Contains(page, "<script>") || strings.Contains(page, "<offsets>") {
				t.Errorf("%s: want one timeline (the clean-run law has none) and nothing unescaped:\n%s", name, page)
			}
			continue
		}
		svg := filepath.Join(dir, "lessons-KafkaJDBCSinkOffsetsAfterWrite-RetryEquivalence.svg")
		if _, err := os.Stat(svg); err != nil || !strings.Contains(page, "![timeline](lessons-KafkaJDBCSinkOffsetsAfterWrite-RetryEquivalence.svg)") {
			t.Errorf("the Markdown page does not link its timeline %s: %v", svg, err)
		}
	}
	if err := lessonsPage().Write(filepath.Join(dir, "lessons.pdf")); err == nil {
		t.Error("a .pdf page was written")
	}
}
