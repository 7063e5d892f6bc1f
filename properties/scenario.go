package properties

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/idemcheck/idemcheck/harness"
)

// ScenarioFile is what a counterexample's scenario file holds: enough to
// re-run the trial exactly, in a plain format that survives code changes
// (unlike rapid's bit streams).
type ScenarioFile[R any] struct {
	Writer   string              `json:"writer"`
	Law      harness.Law         `json:"law"`
	Saved    time.Time           `json:"saved"`
	Scenario harness.Scenario[R] `json:"scenario"`
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// saveScenario writes sc to dir (default testdata/idemcheck) and returns
// the file's path.
func saveScenario[R any](dir, writer string, law harness.Law, sc harness.Scenario[R]) (string, error) {
	if dir == "" {
		dir = filepath.Join("testdata", "idemcheck")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(ScenarioFile[R]{Writer: writer, Law: law, Saved: time.Now().UTC().Truncate(time.Second), Scenario: sc}, "", "  ")
	if err != nil {
		return "", err
	}
	name := unsafeChars.ReplaceAllString(writer, "_")
	if len(name) > 120 { // file names end at 255 bytes; keep them readable
		h := sha256.Sum256([]byte(writer))
		name = name[:100] + "_" + hex.EncodeToString(h[:4])
	}
	name += "-" + string(law) + ".json"
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// LoadScenario reads a scenario file written for a failing trial.
func LoadScenario[R any](path string) (*ScenarioFile[R], error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("properties: read scenario: %w", err)
	}
	var f ScenarioFile[R]
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("properties: %s is not a scenario file: %w", path, err)
	}
	known := false
	for _, l := range harness.AllLaws {
		known = known || l == f.Law
	}
	if !known {
		return nil, fmt.Errorf("properties: %s names law %q; want one of %v", path, f.Law, harness.AllLaws)
	}
	for i, d := range f.Scenario.Deliveries {
		if d.Batch < 0 || d.Batch >= len(f.Scenario.Batches) {
			return nil, fmt.Errorf("properties: %s: delivery %d names batch index %d, but the scenario has %d batches (indexes 0 to %d); fix the index or add the batch",
				path, i+1, d.Batch, len(f.Scenario.Batches), len(f.Scenario.Batches)-1)
		}
	}
	return &f, nil
}
