package trial

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"
)

// CompareOption adjusts how Compare judges two states, in the manner of
// go-cmp's options (a function type, as every option of this package).
type CompareOption func(*compareConfig)

type compareConfig struct {
	ignore   map[string]bool // "table.column" or "*.column"
	modulo   bool
	maxLines int
}

// IgnoreColumns leaves columns out of the comparison. Each is "table.column",
// or "column" for that column in every table.
func IgnoreColumns(cols ...string) CompareOption {
	return func(c *compareConfig) {
		for _, col := range cols {
			if !strings.Contains(col, ".") {
				col = "*." + col
			}
			c.ignore[col] = true
		}
	}
}

// IgnoreTables leaves whole tables out of the comparison: a program's
// bookkeeping (a consumer's stored offsets, which name each trial's own
// topic) rather than its effect.
func IgnoreTables(tables ...string) CompareOption {
	return func(c *compareConfig) {
		for _, t := range tables {
			c.ignore[t+".*"] = true
		}
	}
}

// ModuloSurrogateKeys leaves out columns filled from a sequence or identity,
// whose values may differ between equivalent runs (a sequence advances even
// on a rolled-back insert). Rows still compare as a multiset on the rest.
func ModuloSurrogateKeys() CompareOption {
	return func(c *compareConfig) { c.modulo = true }
}

// MaxDiffLines caps the length of the diff text (default 60 lines).
func MaxDiffLines(n int) CompareOption {
	return func(c *compareConfig) { c.maxLines = n }
}

// Diff is the outcome of Compare.
type Diff struct {
	Equal bool
	// OnlySurrogateKeys is set when the states differ, but only in surrogate
	// key columns: then ModuloSurrogateKeys would make them equal.
	OnlySurrogateKeys bool
	Tables            []TableDiff // the tables that differ, by name
	maxLines          int
}

// TableDiff says how one table differs.
type TableDiff struct {
	Table   string
	Problem string // set when the table itself differs: missing, extra, other columns
	Key     []string
	Columns []string // the compared columns, in order
	Missing []RowCount
	Extra   []RowCount
	Changed []ChangedRow
}

// RowCount is a row and how many more (or fewer) times it appears.
type RowCount struct {
	Row   Row
	Count int
}

// ChangedRow pairs the clean and the faulty version of a row with the same
// primary key.
type ChangedRow struct {
	Clean, Faulty Row
	Columns       []string // the columns whose values differ
}

// Compare reports how faulty differs from clean, table by table. Tables
// compare by fingerprint first; rows are read only for tables that differ
// (for a table larger than RowLimit, from its live sandbox).
func Compare(ctx context.Context, clean, faulty *State, opts ...CompareOption) (*Diff, error) {
	cfg := compareConfig{ignore: map[string]bool{}, maxLines: 60}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := compare(ctx, clean, faulty, cfg)
	if err != nil || d.Equal || cfg.modulo {
		return d, err
	}
	cfg.modulo = true
	modulo, err := compare(ctx, clean, faulty, cfg)
	if err != nil {
		return nil, err
	}
	d.OnlySurrogateKeys = modulo.Equal
	return d, nil
}

func compare(ctx context.Context, clean, faulty *State, cfg compareConfig) (*Diff, error) {
	d := &Diff{Equal: true, maxLines: cfg.maxLines}
	names := map[string]bool{}
	for n := range clean.Tables {
		names[n] = true
	}
	for n := range faulty.Tables {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		if cfg.ignore[name+".*"] {
			continue
		}
		td, err := compareTable(ctx, clean, faulty, name, cfg)
		if err != nil {
			return nil, err
		}
		if td != nil {
			d.Equal = false
			d.Tables = append(d.Tables, *td)
		}
	}
	return d, nil
}

func compareTable(ctx context.Context, clean, faulty *State, name string, cfg compareConfig) (*TableDiff, error) {
	ct, ft := clean.Tables[name], faulty.Tables[name]
	switch {
	case ct == nil:
		return &TableDiff{Table: name, Problem: fmt.Sprintf("table only in the faulty run (%d rows)", ft.Count)}, nil
	case ft == nil:
		return &TableDiff{Table: name, Problem: fmt.Sprintf("table missing from the faulty run (clean has %d rows)", ct.Count)}, nil
	}
	cols, idx := compared(ct, cfg)
	_, fidx := compared(ft, cfg)
	if !sameColumns(cols, projectColumns(ft.Columns, fidx)) {
		return &TableDiff{Table: name, Problem: fmt.Sprintf("columns differ: clean has %s, faulty has %s", columnList(ct.Columns), columnList(ft.Columns))}, nil
	}
	if ct.large() && ft.large() { // fingerprints first (a large and a small table differ in count)
		a, err := clean.fingerprint(ctx, ct, cols)
		if err != nil {
			return nil, err
		}
		b, err := faulty.fingerprint(ctx, ft, cols)
		if err != nil {
			return nil, err
		}
		if a == b && ct.Count == ft.Count {
			return nil, nil
		}
	}
	crows, err := clean.loadRows(ctx, ct)
	if err != nil {
		return nil, err
	}
	frows, err := faulty.loadRows(ctx, ft)
	if err != nil {
		return nil, err
	}
	td := &TableDiff{Table: name, Columns: columnNames(cols)}
	for _, k := range ct.Key {
		if !contains(td.Columns, k) {
			td.Key = nil // the key is not compared: rows pair as a multiset only
			break
		}
		td.Key = append(td.Key, k)
	}
	counts := map[string]int{}
	rowsByKey := map[string]Row{}
	for _, r := range crows {
		r = project(r, idx)
		k := rowKey(r)
		counts[k]++
		rowsByKey[k] = r
	}
	for _, r := range frows {
		r = project(r, fidx)
		k := rowKey(r)
		counts[k]--
		rowsByKey[k] = r
	}
	for k, n := range counts {
		switch {
		case n > 0:
			td.Missing = append(td.Missing, RowCount{rowsByKey[k], n})
		case n < 0:
			td.Extra = append(td.Extra, RowCount{rowsByKey[k], -n})
		}
	}
	if len(td.Missing) == 0 && len(td.Extra) == 0 {
		return nil, nil
	}
	td.pairByKey()
	td.sort()
	return td, nil
}

// pairByKey turns a missing and an extra row with the same primary key, each
// appearing once, into a changed row.
func (td *TableDiff) pairByKey() {
	if len(td.Key) == 0 {
		return
	}
	pos := make([]int, len(td.Key))
	for i, k := range td.Key {
		pos[i] = indexOf(td.Columns, k)
	}
	keyOf := func(r Row) string { return rowKey(project(r, pos)) }
	extra := map[string]int{}
	for i, e := range td.Extra {
		if e.Count == 1 {
			extra[keyOf(e.Row)] = i
		}
	}
	used := map[int]bool{}
	var missing []RowCount
	for _, m := range td.Missing {
		i, ok := extra[keyOf(m.Row)]
		if m.Count != 1 || !ok || used[i] {
			missing = append(missing, m)
			continue
		}
		used[i] = true
		var cols []string
		for c := range td.Columns {
			if rowKey(Row{m.Row[c]}) != rowKey(Row{td.Extra[i].Row[c]}) {
				cols = append(cols, td.Columns[c])
			}
		}
		td.Changed = append(td.Changed, ChangedRow{Clean: m.Row, Faulty: td.Extra[i].Row, Columns: cols})
	}
	var extras []RowCount
	for i, e := range td.Extra {
		if !used[i] {
			extras = append(extras, e)
		}
	}
	td.Missing, td.Extra = missing, extras
}

func (td *TableDiff) sort() {
	less := func(a, b Row) bool { return lessRow(a, b) }
	sort.Slice(td.Missing, func(i, j int) bool { return less(td.Missing[i].Row, td.Missing[j].Row) })
	sort.Slice(td.Extra, func(i, j int) bool { return less(td.Extra[i].Row, td.Extra[j].Row) })
	sort.Slice(td.Changed, func(i, j int) bool { return less(td.Changed[i].Clean, td.Changed[j].Clean) })
}

// lessRow orders rows value by value: integers numerically, the rest as text,
// NULL first.
func lessRow(a, b Row) bool {
	for i := range a {
		x, y := a[i], b[i]
		if x == nil || y == nil {
			if (x == nil) != (y == nil) {
				return x == nil
			}
			continue
		}
		xi, xok := x.(int64)
		yi, yok := y.(int64)
		if xok && yok {
			if xi != yi {
				return xi < yi
			}
			continue
		}
		xs, ys := fmt.Sprint(x), fmt.Sprint(y)
		if xs != ys {
			return xs < ys
		}
	}
	return false
}

// compared returns the columns of t that take part in the comparison and
// their positions.
func compared(t *Table, cfg compareConfig) ([]Column, []int) {
	var cols []Column
	var idx []int
	for i, c := range t.Columns {
		if cfg.ignore[t.Name+"."+c.Name] || cfg.ignore["*."+c.Name] || (cfg.modulo && c.Surrogate) {
			continue
		}
		cols = append(cols, c)
		idx = append(idx, i)
	}
	return cols, idx
}

func projectColumns(cols []Column, idx []int) []Column {
	out := make([]Column, len(idx))
	for i, j := range idx {
		out[i] = cols[j]
	}
	return out
}

func project(r Row, idx []int) Row {
	out := make(Row, len(idx))
	for i, j := range idx {
		out[i] = r[j]
	}
	return out
}

// rowKey encodes a row so that equal rows, and only they, give equal keys.
func rowKey(r Row) string {
	var b strings.Builder
	for _, v := range r {
		switch v := v.(type) {
		case nil:
			b.WriteString("N;")
		case int64:
			b.WriteString("i" + strconv.FormatInt(v, 10) + ";")
		case bool:
			b.WriteString("b" + strconv.FormatBool(v) + ";")
		default:
			s := fmt.Sprint(v)
			b.WriteString("s" + strconv.Itoa(len(s)) + ":" + s + ";")
		}
	}
	return b.String()
}

func columnNames(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

func columnList(cols []Column) string {
	var parts []string
	for _, c := range cols {
		parts = append(parts, c.Name+" "+c.Type)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func contains(xs []string, x string) bool { return indexOf(xs, x) >= 0 }

func indexOf(xs []string, x string) int {
	for i, s := range xs {
		if s == x {
			return i
		}
	}
	return -1
}

// String renders the diff for people, titled (-clean +faulty) and capped at
// the MaxDiffLines length.
func (d *Diff) String() string {
	if d.Equal {
		return "states are equal"
	}
	lines := []string{"(-clean +faulty)"}
	for _, td := range d.Tables {
		lines = append(lines, td.lines()...)
	}
	if d.OnlySurrogateKeys {
		lines = append(lines, "note: the states differ only in surrogate key columns (filled from a sequence or identity, which advances even on a rolled-back insert); if their values are not part of what the writer promises, compare with trial.ModuloSurrogateKeys() (CLI: --modulo-surrogate-keys)")
	}
	if d.maxLines > 0 && len(lines) > d.maxLines {
		more := len(lines) - d.maxLines + 1
		lines = append(lines[:d.maxLines-1], fmt.Sprintf("... %d more lines", more))
	}
	return strings.Join(lines, "\n")
}

// Summary is one line per differing table: what is missing, extra, changed.
func (td TableDiff) Summary() string {
	if td.Problem != "" {
		return "table " + td.Table + ": " + td.Problem
	}
	var parts []string
	if n := countRows(td.Missing); n > 0 {
		parts = append(parts, plural(n, "row")+" missing")
	}
	if n := countRows(td.Extra); n > 0 {
		parts = append(parts, plural(n, "row")+" extra")
	}
	if n := len(td.Changed); n > 0 {
		parts = append(parts, plural(n, "row")+" changed")
	}
	key := ""
	if len(td.Key) > 0 {
		key = " (key " + strings.Join(td.Key, ", ") + ")"
	}
	return "table " + td.Table + key + ": " + strings.Join(parts, ", ")
}

func (td TableDiff) lines() []string {
	lines := []string{td.Summary()}
	for _, c := range td.Changed {
		lines = append(lines, "  changed, columns "+strings.Join(c.Columns, ", ")+":")
		for _, l := range strings.Split(strings.TrimRight(cmp.Diff(td.asMap(c.Clean), td.asMap(c.Faulty)), "\n"), "\n") {
			lines = append(lines, "    "+strings.NewReplacer("\u00a0", " ", "\t", "  ").Replace(l))
		}
	}
	for _, m := range td.Missing {
		lines = append(lines, "  - "+td.format(m.Row)+times(m.Count))
	}
	for _, e := range td.Extra {
		lines = append(lines, "  + "+td.format(e.Row)+times(e.Count))
	}
	return lines
}

func (td TableDiff) asMap(r Row) map[string]any {
	m := make(map[string]any, len(r))
	for i, v := range r {
		m[td.Columns[i]] = v
	}
	return m
}

// format renders a row as {col: value, ...}.
func (td TableDiff) format(r Row) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = td.Columns[i] + ": " + formatValue(v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// formatValue renders a Row value: NULL, a number or bool as is, text quoted.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	default:
		return strconv.Quote(fmt.Sprint(v))
	}
}

func countRows(rs []RowCount) int {
	n := 0
	for _, r := range rs {
		n += r.Count
	}
	return n
}

func times(n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("  ×%d", n)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
