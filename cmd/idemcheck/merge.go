package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/idemcheck/idemcheck/properties"
)

// mergeCmd combines the parts of a sharded certification.
type mergeCmd struct {
	Parts []string `arg:"" type:"existingfile" help:"The --json files of every part (certify --shard I/N), in any order."`
	outputs
}

// Run merges the parts into one certificate and presents it as certify
// does: held only if every part held and the coverage over all parts meets
// the minimum; violated with the earliest counterexample of any part.
func (c mergeCmd) Run(e *env) error {
	if err := checkReportPath(c.Report); err != nil {
		return err
	}
	var parts []*properties.Report
	var target jsonTarget
	for _, file := range c.Parts {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var j jsonReport
		if err := json.Unmarshal(b, &j); err != nil {
			return usageError{fmt.Sprintf("%s: not a certificate written by idemcheck certify --json: %v", file, err)}
		}
		rep, err := fromJSON(j)
		if err != nil {
			return usageError{fmt.Sprintf("%s: %v", file, err)}
		}
		parts = append(parts, rep)
		target = j.Target
	}
	rep, err := properties.Merge(parts...)
	if err != nil {
		return usageError{err.Error() + "; give the --json of every part of one run (certify --shard I/N with the same --seed and --checks)"}
	}
	fmt.Fprintf(e.stdout, "merged %d part(s) of the certification of %s (seed %d, %d checks per law)\n", len(parts), rep.Writer, rep.Seed, rep.Checks)
	return present(e, rep, target, len(parts), c.outputs, nil)
}
