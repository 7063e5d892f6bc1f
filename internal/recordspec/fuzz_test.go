package recordspec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Any spec either parses into one that round-trips and generates records,
// or is refused with a message; it never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"id:bigint:key,version:bigint:version,day:date:partition,amount:numeric",
		"sensor:text:key\nseq:bigint:version # comment", "a:int", "x:money", ":", "a:b:c:d", "v:text:version", "k:uuid:key,k:uuid"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := Parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q refused without a message", s)
			}
			return
		}
		again, err := Parse(spec.String())
		if err != nil || again.String() != spec.String() {
			t.Fatalf("%q parsed as %q, which parses as %v, %v", s, spec, again, err)
		}
		_ = spec.Example(0)
		_ = spec.ColumnsSQL()
	})
}

// Any file given to --records loads as a spec or sample records, or is
// refused with a message naming the file; it never panics.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{`{"id":1,"day":"2026-11-01","amount":12.5}`, "{\"a\":[1]}\n", "{}", "{\"a\":null}\n{\"a\":1}", "id:bigint:key", "{not json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		file := filepath.Join(t.TempDir(), "records")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		spec, err := Load(file)
		if err != nil {
			if !strings.Contains(err.Error(), file) && !strings.HasPrefix(strings.TrimSpace(content), "{") {
				// A spec's own message names the field or the form.
				return
			}
			return
		}
		if len(spec.Fields) == 0 {
			t.Fatalf("%q loaded with no field", content)
		}
		_ = spec.Example(1)
	})
}
