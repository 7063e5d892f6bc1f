package properties_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
)

// Any file given to replay loads as a scenario or is refused with a
// message naming the file; it never panics.
func FuzzLoadScenario(f *testing.F) {
	for _, s := range []string{
		`{"writer":"w","law":"RetryEquivalence","scenario":{"Batches":[{"ID":"b1","Records":[{"id":1,"version":1,"event_date":"2026-11-01","amount":"1"}]}],"Deliveries":[{"Batch":0,"Attempts":[{"Wire":"crash-after at commit 1"}]}]}}`,
		`{"law":"Nope"}`, `{"law":"Determinism","scenario":{"Deliveries":[{"Batch":7}]}}`, `{"scenario":{"Deliveries":[{"Attempts":[{"Wire":"boom"}]}]}}`, "not json", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		file := filepath.Join(t.TempDir(), "scenario.json")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		sf, err := properties.LoadScenario[harness.Order](file)
		if err != nil {
			if !strings.Contains(err.Error(), file) {
				t.Fatalf("the refusal does not name the file: %v", err)
			}
			return
		}
		for i, d := range sf.Scenario.Deliveries {
			if d.Batch < 0 || d.Batch >= len(sf.Scenario.Batches) {
				t.Fatalf("delivery %d names batch %d of %d, yet the file loaded", i+1, d.Batch, len(sf.Scenario.Batches))
			}
		}
	})
}
