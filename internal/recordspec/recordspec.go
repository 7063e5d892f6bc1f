package recordspec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"
)

// Role is what a field means to the generator.
type Role string

// The roles of a field.
const (
	Plain     Role = ""
	Key       Role = "key"       // identifies the record; drawn from a small domain
	Version   Role = "version"   // orders a key's records; drawn from 1..3
	Partition Role = "partition" // the batch's partition (--partition-field)
)

// Field is one field of a record.
type Field struct {
	Name string
	Type string // a PostgreSQL type of Types
	Role Role
}

// Spec describes the records: their fields, or a pool of sample records.
type Spec struct {
	Fields []Field
	pool   []Record
	source string // the pool's file
}

// Record is one record: field name to value (int64, json.Number, string
// or bool). It is written as a JSON object; read back, numbers stay exact.
type Record map[string]any

// String renders the record as JSON (keys sorted).
func (r Record) String() string {
	b, err := json.Marshal(map[string]any(r))
	if err != nil {
		return fmt.Sprintf("%v", map[string]any(r))
	}
	return string(b)
}

// UnmarshalJSON reads a JSON object, keeping numbers as json.Number so a
// bigint beyond 2^53 or a numeric's scale survives.
func (r *Record) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*r = m
	return nil
}

// domains are the values drawn for each type: keys from the first ones,
// everything else from all of them.
var domains = map[string][]any{
	"bigint":      {json.Number("1"), json.Number("2"), json.Number("3"), json.Number("4"), json.Number("5"), json.Number("6"), json.Number("0"), json.Number("-7"), json.Number("9007199254740993"), json.Number("-9223372036854775808")},
	"integer":     {json.Number("1"), json.Number("2"), json.Number("3"), json.Number("4"), json.Number("5"), json.Number("6"), json.Number("0"), json.Number("-7"), json.Number("2147483647")},
	"smallint":    {json.Number("1"), json.Number("2"), json.Number("3"), json.Number("4"), json.Number("5"), json.Number("6"), json.Number("0"), json.Number("-7"), json.Number("32767")},
	"numeric":     {json.Number("1"), json.Number("2.5"), json.Number("3"), json.Number("4"), json.Number("5"), json.Number("6"), json.Number("12.50"), json.Number("12.5"), json.Number("0.001"), json.Number("-7.25"), json.Number("99999999.99"), json.Number("100.000")},
	"text":        {"a", "b", "c", "d", "e", "f", "", "c-ü", "顧客-2", "c 3", "c-'4'", `c-"5"`, "NULL", `back\slash`},
	"date":        {"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2024-02-29", "1999-12-31"},
	"timestamptz": {"2026-11-01T10:00:00Z", "2026-11-01T10:00:01Z", "2026-11-02T00:00:00Z", "2026-11-02T23:59:59.999999Z", "2026-11-03T01:00:00+02:00", "2026-11-04T12:00:00.5Z"},
	"boolean":     {false, true},
	"uuid":        {"00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000003", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"},
}

// aliases map other spellings of a type to the one of domains.
var aliases = map[string]string{
	"int8": "bigint", "int": "integer", "int4": "integer", "int2": "smallint", "decimal": "numeric",
	"varchar": "text", "string": "text", "bool": "boolean", "timestamp with time zone": "timestamptz",
}

// Types are the types a spec may use.
func Types() []string {
	var out []string
	for t := range domains {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse reads a spec: fields separated by commas or new lines, each
// name:type or name:type:role; # starts a comment.
func Parse(s string) (*Spec, error) {
	spec := &Spec{}
	seen := map[string]bool{}
	var roles = map[Role]string{}
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, item := range strings.Split(line, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			parts := strings.Split(item, ":")
			if len(parts) < 2 || len(parts) > 3 {
				return nil, fmt.Errorf("%q: a field is name:type or name:type:role, e.g. id:bigint:key", item)
			}
			f := Field{Name: strings.TrimSpace(parts[0]), Type: strings.ToLower(strings.TrimSpace(parts[1]))}
			if a, ok := aliases[f.Type]; ok {
				f.Type = a
			}
			if !fieldName.MatchString(f.Name) {
				return nil, fmt.Errorf("%q: a field name is letters, digits and _", f.Name)
			}
			if seen[f.Name] {
				return nil, fmt.Errorf("field %s is named twice", f.Name)
			}
			seen[f.Name] = true
			if _, ok := domains[f.Type]; !ok {
				return nil, fmt.Errorf("field %s: type %q is not one of %s", f.Name, parts[1], strings.Join(Types(), ", "))
			}
			if len(parts) == 3 {
				f.Role = Role(strings.ToLower(strings.TrimSpace(parts[2])))
				switch f.Role {
				case Key:
				case Version, Partition:
					if other, dup := roles[f.Role]; dup {
						return nil, fmt.Errorf("fields %s and %s are both the %s; a record has one", other, f.Name, f.Role)
					}
					roles[f.Role] = f.Name
				default:
					return nil, fmt.Errorf("field %s: role %q is not key, version or partition", f.Name, parts[2])
				}
			}
			if f.Role == Version && f.Type != "bigint" && f.Type != "integer" && f.Type != "smallint" && f.Type != "numeric" {
				return nil, fmt.Errorf("field %s: a version is a number (bigint, integer, smallint or numeric), not %s", f.Name, f.Type)
			}
			spec.Fields = append(spec.Fields, f)
		}
	}
	if len(spec.Fields) == 0 {
		return nil, errors.New("the spec has no field; e.g. id:bigint:key,version:bigint:version,day:date:partition,amount:numeric")
	}
	if _, ok := roles[Version]; ok && len(spec.keys()) == 0 {
		return nil, errors.New("a version orders a key's records: mark the key field(s) too, e.g. id:bigint:key")
	}
	return spec, nil
}

// Load reads what --records was given: a spec, or a file holding a spec or
// sample records (JSON lines, one object each).
func Load(arg string) (*Spec, error) {
	b, err := os.ReadFile(arg)
	if err != nil {
		if strings.Contains(arg, ":") {
			return Parse(arg)
		}
		return nil, fmt.Errorf("%s is neither a file nor a spec like id:bigint:key,amount:numeric: %w", arg, err)
	}
	if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 && trimmed[0] == '{' {
		return loadPool(arg, b)
	}
	spec, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return spec, nil
}

// loadPool reads sample records and infers each field's type.
func loadPool(file string, b []byte) (*Spec, error) {
	spec := &Spec{source: file}
	if abs, err := filepath.Abs(file); err == nil {
		spec.source = abs // a replay may run elsewhere
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	types := map[string]string{}
	var order []string
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %w", file, n, err)
		}
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t, err := infer(r[k])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: field %s: %w", file, n, k, err)
			}
			prev, seen := types[k]
			switch {
			case !seen:
				order = append(order, k)
				types[k] = t
			case t == "" || prev == t:
			case prev == "":
				types[k] = t
			case (prev == "bigint" && t == "numeric") || (prev == "numeric" && t == "bigint"):
				types[k] = "numeric"
			default:
				types[k] = "text"
			}
		}
		spec.pool = append(spec.pool, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(spec.pool) == 0 {
		return nil, fmt.Errorf("%s holds no record", file)
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%s: the records have no field; give each one its fields, e.g. {\"id\": 1, \"amount\": 12.5}", file)
	}
	for _, k := range order {
		t := types[k]
		if t == "" {
			t = "text" // null in every record
		}
		spec.Fields = append(spec.Fields, Field{Name: k, Type: t})
	}
	return spec, nil
}

var (
	dateValue      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	timestampValue = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)$`)
)

// infer gives a JSON value's column type ("" for null).
func infer(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case bool:
		return "boolean", nil
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return "bigint", nil
		}
		return "numeric", nil
	case string:
		switch {
		case dateValue.MatchString(v):
			return "date", nil
		case timestampValue.MatchString(v):
			return "timestamptz", nil
		}
		return "text", nil
	}
	return "", fmt.Errorf("a nested value (%T); give flat records", v)
}

func (s *Spec) keys() []Field { return s.withRole(Key) }

func (s *Spec) withRole(r Role) []Field {
	var out []Field
	for _, f := range s.Fields {
		if f.Role == r {
			out = append(out, f)
		}
	}
	return out
}

// String is the spec in the form Parse reads.
func (s *Spec) String() string {
	parts := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		parts[i] = f.Name + ":" + f.Type
		if f.Role != Plain {
			parts[i] += ":" + string(f.Role)
		}
	}
	return strings.Join(parts, ",")
}

// Source names where the records come from: the spec, or the sample file.
func (s *Spec) Source() string {
	if s.source != "" {
		return s.source
	}
	return s.String()
}

// Partition is the partition field's name, or "".
func (s *Spec) Partition() string {
	if p := s.withRole(Partition); len(p) > 0 {
		return p[0].Name
	}
	return ""
}

// Has reports whether the records have field name.
func (s *Spec) Has(name string) bool {
	for _, f := range s.Fields {
		if f.Name == name {
			return true
		}
	}
	return false
}

// ColumnsSQL defines the fields as table columns, for CREATE TABLE.
func (s *Spec) ColumnsSQL() string {
	parts := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		parts[i] = pgx.Identifier{f.Name}.Sanitize() + " " + f.Type
	}
	return strings.Join(parts, ", ")
}

// Generator draws records: from the pool of samples, or by the spec.
func (s *Spec) Generator() *rapid.Generator[Record] {
	if len(s.pool) > 0 {
		return rapid.Custom(func(t *rapid.T) Record {
			return s.pool[rapid.IntRange(0, len(s.pool)-1).Draw(t, "sample")]
		})
	}
	keys := s.keys()
	return rapid.Custom(func(t *rapid.T) Record {
		if len(keys) == 0 {
			r := Record{}
			for _, f := range s.Fields {
				d := domains[f.Type]
				r[f.Name] = d[rapid.IntRange(0, len(d)-1).Draw(t, f.Name)]
			}
			return r
		}
		size := 6
		if len(keys) > 1 {
			size = 3
		}
		var keyIdx []int
		for _, f := range keys {
			keyIdx = append(keyIdx, rapid.IntRange(0, min(size, len(domains[f.Type]))-1).Draw(t, f.Name))
		}
		version := rapid.IntRange(1, 3).Draw(t, "version")
		return s.of(keyIdx, version)
	})
}

// Example is a record for a first, fault-free try of the writer: key
// values i (from 0), version 1.
func (s *Spec) Example(i int) Record {
	if len(s.pool) > 0 {
		return s.pool[i%len(s.pool)]
	}
	var keyIdx []int
	for _, f := range s.keys() {
		keyIdx = append(keyIdx, i%len(domains[f.Type]))
	}
	if len(keyIdx) == 0 {
		r := Record{}
		for _, f := range s.Fields {
			r[f.Name] = domains[f.Type][i%len(domains[f.Type])]
		}
		return r
	}
	return s.of(keyIdx, 1)
}

// of is the one record of a key (indexes into the key fields' domains) at
// a version: the partition a function of the key, the rest of both.
func (s *Spec) of(keyIdx []int, version int) Record {
	r := Record{}
	h := fnv.New64a()
	k := 0
	for _, f := range s.Fields {
		if f.Role == Key {
			r[f.Name] = domains[f.Type][keyIdx[k]]
			fmt.Fprintf(h, "%d,", keyIdx[k])
			k++
		}
	}
	keyHash := h.Sum64()
	fmt.Fprintf(h, "v%d", version)
	contentHash := h.Sum64()
	for i, f := range s.Fields {
		d := domains[f.Type]
		switch f.Role {
		case Key:
		case Version:
			r[f.Name] = json.Number(fmt.Sprint(version))
		case Partition:
			r[f.Name] = d[int(keyHash%uint64(min(3, len(d))))]
		default:
			r[f.Name] = d[int((contentHash>>(i%8*8)+uint64(i))%uint64(len(d)))]
		}
	}
	return r
}

// PartitionOf returns a function giving a record's partition (the value of
// field, as text).
func PartitionOf(field string) func(Record) string {
	return func(r Record) string { return fmt.Sprint(r[field]) }
}
