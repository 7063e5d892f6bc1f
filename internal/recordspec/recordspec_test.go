package recordspec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

const readings = "sensor:text:key, day:date:partition, seq:bigint:version, reading:numeric, ok:bool"

func TestParseReadsFieldsTypesAndRoles(t *testing.T) {
	spec, err := Parse(readings)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := spec.String(), "sensor:text:key,day:date:partition,seq:bigint:version,reading:numeric,ok:boolean"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if again, err := Parse(spec.String()); err != nil || again.String() != spec.String() {
		t.Errorf("String does not parse back: %v", err)
	}
	if spec.Partition() != "day" || !spec.Has("ok") || spec.Has("nope") {
		t.Errorf("partition %q", spec.Partition())
	}
	if got, want := spec.ColumnsSQL(), `"sensor" text, "day" date, "seq" bigint, "reading" numeric, "ok" boolean`; got != want {
		t.Errorf("ColumnsSQL() = %q, want %q", got, want)
	}
}

func TestParseSaysWhatIsWrong(t *testing.T) {
	for spec, want := range map[string]string{
		"":                             "the spec has no field",
		"id":                           "a field is name:type or name:type:role",
		"id:bigint:key:extra":          "a field is name:type or name:type:role",
		"id:money":                     `type "money" is not one of bigint, boolean, date`,
		"id:bigint:primary":            `role "primary" is not key, version or partition`,
		"id:bigint,id:text":            "field id is named twice",
		"1d:bigint":                    "a field name is letters, digits and _",
		"id:bigint:key,v:text:version": "a version is a number",
		"v:bigint:version":             "mark the key field(s) too",
		"id:int:key,a:date:partition,b:date:partition": "fields a and b are both the partition",
	} {
		_, err := Parse(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", spec, err, want)
		}
	}
}

// The generator's contract: one content per (key, version), the partition
// a function of the key alone, and JSON that reads back exactly.
func TestRecordsAreAFunctionOfKeyAndVersion(t *testing.T) {
	spec, err := Parse(readings)
	if err != nil {
		t.Fatal(err)
	}
	rapid.Check(t, func(t *rapid.T) {
		a := spec.Generator().Draw(t, "a")
		b := spec.Generator().Draw(t, "b")
		if a["sensor"] == b["sensor"] {
			if a["day"] != b["day"] {
				t.Fatalf("one key in two partitions: %v %v", a, b)
			}
			if a["seq"] == b["seq"] && a.String() != b.String() {
				t.Fatalf("one key and version with two contents: %v %v", a, b)
			}
		}
		var back Record
		if err := json.Unmarshal([]byte(a.String()), &back); err != nil || back.String() != a.String() {
			t.Fatalf("JSON round trip: %v %v", back, err)
		}
	})
}

func TestBigNumbersSurviveJSON(t *testing.T) {
	var r Record
	if err := json.Unmarshal([]byte(`{"id": 9007199254740993, "amount": 12.50}`), &r); err != nil {
		t.Fatal(err)
	}
	if got := r.String(); got != `{"amount":12.50,"id":9007199254740993}` {
		t.Errorf("got %s", got)
	}
}

func TestLoadTakesASpecAFileOrSamples(t *testing.T) {
	dir := t.TempDir()
	specFile := filepath.Join(dir, "r.spec")
	os.WriteFile(specFile, []byte("# readings\nsensor:text:key\nseq:bigint:version # newest wins\n"), 0o644)
	if spec, err := Load(specFile); err != nil || spec.String() != "sensor:text:key,seq:bigint:version" {
		t.Errorf("spec file: %v %v", spec, err)
	}
	if spec, err := Load("id:bigint"); err != nil || spec.String() != "id:bigint" {
		t.Errorf("spec: %v %v", spec, err)
	}
	samples := filepath.Join(dir, "s.jsonl")
	os.WriteFile(samples, []byte(`{"id": 1, "day": "2026-11-01", "at": "2026-11-01T10:00:00Z", "amount": 3, "note": null, "ok": true}
{"id": 2, "day": "2026-11-02", "at": "2026-11-01 10:00:00+02", "amount": 2.5, "note": "x", "ok": false}

{"id": 3, "day": "not a date", "at": "2026-11-01T10:00:00Z", "amount": 1, "ok": true}
`), 0o644)
	spec, err := Load(samples)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := spec.String(), "amount:numeric,at:timestamptz,day:text,id:bigint,note:text,ok:boolean"; got != want {
		t.Errorf("inferred %q, want %q", got, want)
	}
	if !strings.HasSuffix(spec.Source(), "s.jsonl") || !filepath.IsAbs(spec.Source()) {
		t.Errorf("source %q", spec.Source())
	}
	seen := map[string]bool{}
	for range 200 {
		r := spec.Generator().Example()
		seen[r.String()] = true
	}
	if len(seen) != 3 {
		t.Errorf("drew %d distinct samples of 3", len(seen))
	}
	for arg, want := range map[string]string{
		"no-such-file": "is neither a file nor a spec",
		writeFile(t, dir, "bad.jsonl", "{\"a\": 1}\n{oops\n"): "bad.jsonl:2: not a JSON object",
		writeFile(t, dir, "nested.jsonl", `{"a": {"b": 1}}`):  "field a: a nested value",
		writeFile(t, dir, "bad.spec", "id:bigint:nope"):       `bad.spec: field id: role "nope"`,
	} {
		if _, err := Load(arg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s) = %v, want %q", arg, err, want)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
