package trial

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RowLimit is how many rows of a table a snapshot copies. A larger table is
// compared by its in-database fingerprint, and its rows are read only to
// explain a difference, from the live sandbox.
const RowLimit = 10_000

// State is a snapshot of every user table in a sandbox: a multiset of rows
// per table, with values in canonical form (numeric by value, so 12.50 equals
// 12.5; json as jsonb; timestamps in UTC).
type State struct {
	Sandbox string            // the sandbox it was taken of
	Tables  map[string]*Table // by name; "schema.table" outside the sandbox's own schema or public
	sb      *Sandbox
}

// Table is one table of a State.
type Table struct {
	Name    string
	Columns []Column
	Key     []string // primary key columns in key order; nil without a primary key
	Count   int64    // rows, duplicates included
	// Rows holds every row (values in Columns order), unless the table has
	// more than RowLimit rows; then Rows is nil and only Fingerprint is known.
	Rows []Row
	// Fingerprint is an in-database hash of the multiset of all columns,
	// computed only for a table with more than RowLimit rows ("" for
	// others: their rows are compared). Digest identifies either kind.
	Fingerprint string
	// FingerprintNoSurrogate leaves out the surrogate columns; equal to
	// Fingerprint when there are none.
	FingerprintNoSurrogate string

	qualified string // schema-qualified, quoted name for queries
}

// Column is a column of a Table.
type Column struct {
	Name string
	Type string // the type's name, e.g. int8, numeric, _text for text[]
	// Surrogate marks a column filled from a sequence or identity: its values
	// can differ between equivalent runs (a sequence advances even when the
	// insert that used it rolls back).
	Surrogate bool
}

// Row is one row; each value is nil (NULL), int64 (integer types), bool, or
// the value's canonical text.
type Row []any

// Snapshot reads the state of every user table in sb, in two round trips
// for a small sandbox (the catalog, then every table's rows), three when a
// table has more than RowLimit rows (its fingerprint). Tables are found in
// the catalog: ordinary and partitioned tables (a partitioned table counts
// once, through its parent).
func Snapshot(ctx context.Context, sb *Sandbox) (*State, error) {
	q, err := sb.queryer(ctx)
	if err != nil {
		return nil, err
	}
	tables, err := catalog(ctx, q, sb)
	if err != nil {
		return nil, err
	}
	st := &State{Sandbox: sb.name, Tables: map[string]*Table{}, sb: sb}
	if len(tables) == 0 {
		return st, nil
	}
	// By the simple protocol: the statements name this sandbox's tables, so
	// preparing them would only fill the statement cache.
	var sql strings.Builder
	for _, t := range tables {
		st.Tables[t.Name] = t
		sql.WriteString(rowsSQL(t, RowLimit+1) + ";\n")
	}
	res, err := execText(ctx, q, sql.String())
	if err != nil {
		return nil, fmt.Errorf("trial: snapshot %s: %w", sb.name, err)
	}
	if len(res) != len(tables) {
		return nil, fmt.Errorf("trial: snapshot %s: %d results for %d tables", sb.name, len(res), len(tables))
	}
	var large []*Table
	sql.Reset()
	for i, t := range tables {
		if rows := res[i].Rows; len(rows) <= RowLimit {
			t.Rows, t.Count = textRows(rows, t.Columns), int64(len(rows))
			continue
		}
		large = append(large, t)
		sql.WriteString(fingerprintSQL(t, t.Columns, true) + ";\n")
	}
	if len(large) == 0 {
		return st, nil
	}
	if res, err = execText(ctx, q, sql.String()); err != nil {
		return nil, fmt.Errorf("trial: snapshot %s: %w", sb.name, err)
	}
	for i, t := range large {
		if i >= len(res) || len(res[i].Rows) != 1 || len(res[i].Rows[0]) != 3 {
			return nil, fmt.Errorf("trial: snapshot %s: fingerprint of %s: no row", sb.name, t.Name)
		}
		fp := res[i].Rows[0]
		if t.Count, err = strconv.ParseInt(string(fp[0]), 10, 64); err != nil {
			return nil, fmt.Errorf("trial: snapshot %s: fingerprint of %s: %w", sb.name, t.Name, err)
		}
		t.Fingerprint, t.FingerprintNoSurrogate = string(fp[1]), string(fp[2])
	}
	return st, nil
}

// execText runs sql, statements without parameters, in one round trip by
// the simple protocol and returns every statement's result, in text.
func execText(ctx context.Context, q querier, sql string) ([]*pgconn.Result, error) {
	switch c := q.(type) {
	case *pgx.Conn:
		return c.PgConn().Exec(ctx, sql).ReadAll()
	case *pgxpool.Pool:
		conn, err := c.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Release()
		return conn.Conn().PgConn().Exec(ctx, sql).ReadAll()
	}
	return nil, fmt.Errorf("trial: cannot run %T by the simple protocol", q)
}

// catalog reads the tables of sb and their columns. A schema sandbox's
// tables are found by index, through their dependency on the schema (every
// table and partitioned table records one, kept when ALTER TABLE SET
// SCHEMA moves it), not by a scan of pg_class, which grows with every
// table in the database: on a shared server, with everyone's.
func catalog(ctx context.Context, q querier, sb *Sandbox) ([]*Table, error) {
	from := `pg_namespace n
		CROSS JOIN LATERAL (SELECT DISTINCT objid FROM pg_depend
			WHERE refclassid = 'pg_namespace'::regclass AND refobjid = n.oid AND classid = 'pg_class'::regclass) dep
		JOIN pg_class c ON c.oid = dep.objid AND c.relnamespace = n.oid`
	where := `n.nspname = $1`
	if sb.mode == DatabaseSandbox {
		from = `pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace`
		where = `$1 = $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`
	}
	rows, err := q.Query(ctx, `
		SELECT n.nspname::text, c.relname::text, a.attname::text, t.typname::text,
		       (a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)),
		       coalesce((SELECT k.n FROM unnest(i.indkey) WITH ORDINALITY k(att, n) WHERE k.att = a.attnum), 0)::int
		FROM `+from+`
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		JOIN pg_type t ON t.oid = a.atttypid
		LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
		LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND `+where+`
		ORDER BY 1, 2, a.attnum`, sb.name)
	if err != nil {
		return nil, fmt.Errorf("trial: snapshot %s: read catalog: %w", sb.name, err)
	}
	defer rows.Close()
	var tables []*Table
	var cur *Table
	keys := map[*Table]map[int]string{}
	for rows.Next() {
		var schema, rel, col, typ string
		var surrogate bool
		var keyPos int
		if err := rows.Scan(&schema, &rel, &col, &typ, &surrogate, &keyPos); err != nil {
			return nil, fmt.Errorf("trial: snapshot %s: read catalog: %w", sb.name, err)
		}
		name := rel
		if schema != sb.name && schema != "public" {
			name = schema + "." + rel
		}
		if cur == nil || cur.Name != name {
			cur = &Table{Name: name, qualified: pgx.Identifier{schema, rel}.Sanitize()}
			tables = append(tables, cur)
			keys[cur] = map[int]string{}
		}
		cur.Columns = append(cur.Columns, Column{Name: col, Type: typ, Surrogate: surrogate})
		if keyPos > 0 {
			keys[cur][keyPos] = col
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("trial: snapshot %s: read catalog: %w", sb.name, err)
	}
	for t, k := range keys {
		for i := 1; i <= len(k); i++ {
			t.Key = append(t.Key, k[i])
		}
	}
	return tables, nil
}

// canonical is the SQL expression giving a column's canonical text.
func canonical(c Column) string {
	id := quote(c.Name)
	switch c.Type {
	case "numeric":
		return "trim_scale(" + id + ")::text"
	case "_numeric":
		return "CASE WHEN cardinality(" + id + ") = 0 THEN " + id + "::text ELSE (SELECT array_agg(trim_scale(e))::text FROM unnest(" + id + ") e) END"
	case "json":
		return id + "::jsonb::text"
	case "_json":
		return id + "::jsonb[]::text"
	default:
		return id + "::text"
	}
}

// fingerprintSQL counts the rows of t and hashes the multiset of their
// canonical values over cols and, when withNoSurrogate, over cols less the
// surrogate columns, in one scan (PostgreSQL computes identical aggregates
// once, so a table without surrogate columns is hashed once).
func fingerprintSQL(t *Table, cols []Column, withNoSurrogate bool) string {
	fp := func(expr string) string {
		return "coalesce(sum(hashtextextended(" + expr + ", 0)), 0)::text"
	}
	second := "''"
	if withNoSurrogate {
		second = fp(rowExpr(cols, true))
	}
	return "SELECT count(*), " + fp(rowExpr(cols, false)) + ", " + second + " FROM " + t.qualified
}

func rowExpr(cols []Column, skipSurrogate bool) string {
	var parts []string
	for _, c := range cols {
		if skipSurrogate && c.Surrogate {
			continue
		}
		parts = append(parts, canonical(c))
	}
	if len(parts) == 0 {
		return "''"
	}
	return "ROW(" + strings.Join(parts, ", ") + ")::text"
}

func rowsSQL(t *Table, limit int) string {
	var parts []string
	for _, c := range t.Columns {
		parts = append(parts, canonical(c))
	}
	sql := "SELECT " + strings.Join(parts, ", ") + " FROM " + t.qualified
	if limit > 0 {
		sql += " LIMIT " + strconv.Itoa(limit)
	}
	return sql
}

// textRows turns rows of canonical texts (nil for NULL) into Rows.
func textRows(rows [][][]byte, cols []Column) []Row {
	out := make([]Row, 0, len(rows))
	for _, raw := range rows {
		r := make(Row, len(cols))
		for i, v := range raw {
			r[i] = typed(cols[i].Type, v)
		}
		out = append(out, r)
	}
	return out
}

// typed turns a canonical text into the Row value of its type.
func typed(typ string, v []byte) any {
	if v == nil {
		return nil
	}
	switch typ {
	case "int2", "int4", "int8", "oid":
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n
		}
	case "bool":
		return string(v) == "t" || string(v) == "true"
	}
	return string(v)
}

// Digest identifies t's contents: two tables of the same columns have the
// same digest if and only if they hold the same multiset of rows (up to
// the collisions of a hash). It is the fingerprint of a table over
// RowLimit rows, a hash of the sorted rows of any other.
func (t *Table) Digest() string {
	if t.large() {
		return strconv.FormatInt(t.Count, 10) + ":" + t.Fingerprint
	}
	keys := make([]string, len(t.Rows))
	for i, r := range t.Rows {
		keys[i] = rowKey(r)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k + "\n"))
	}
	return strconv.FormatInt(t.Count, 10) + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// large reports whether t had too many rows for the snapshot to hold
// them (an empty table holds none either, and is not large).
func (t *Table) large() bool { return t.Rows == nil && t.Count > 0 }

// loadRows reads all rows of a table too large for the snapshot, from the
// live sandbox.
func (s *State) loadRows(ctx context.Context, t *Table) ([]Row, error) {
	if t.Rows != nil || t.Count == 0 {
		return t.Rows, nil
	}
	q, err := s.sb.queryer(ctx)
	if err != nil {
		return nil, err
	}
	res, err := execText(ctx, q, rowsSQL(t, 0))
	if err != nil {
		return nil, fmt.Errorf("trial: rows of %s in %s: %w", t.Name, s.Sandbox, err)
	}
	return textRows(res[0].Rows, t.Columns), nil
}

// fingerprint of t over cols, from the snapshot when it has it, else
// computed in the live sandbox.
func (s *State) fingerprint(ctx context.Context, t *Table, cols []Column) (string, error) {
	switch {
	case sameColumns(cols, t.Columns):
		return t.Fingerprint, nil
	case sameColumns(cols, withoutSurrogates(t.Columns)):
		return t.FingerprintNoSurrogate, nil
	}
	q, err := s.sb.queryer(ctx)
	if err != nil {
		return "", err
	}
	var n int64
	var fp, unused string
	if err := q.QueryRow(ctx, fingerprintSQL(t, cols, false)).Scan(&n, &fp, &unused); err != nil {
		return "", fmt.Errorf("trial: fingerprint of %s in %s: %w", t.Name, s.Sandbox, err)
	}
	return fp, nil
}

func withoutSurrogates(cols []Column) []Column {
	var out []Column
	for _, c := range cols {
		if !c.Surrogate {
			out = append(out, c)
		}
	}
	return out
}

func sameColumns(a, b []Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TableNames lists the tables of the state in name order.
func (s *State) TableNames() []string {
	names := make([]string, 0, len(s.Tables))
	for n := range s.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
