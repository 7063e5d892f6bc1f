package sqlsplit

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"BEGIN; INSERT INTO t VALUES (1);\nCOMMIT;", []string{"BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"}},
		{"SELECT ';' AS x; SELECT 2", []string{"SELECT ';' AS x", "SELECT 2"}},
		{`SELECT "a;b" FROM t; SELECT 'it''s; fine'`, []string{`SELECT "a;b" FROM t`, `SELECT 'it''s; fine'`}},
		{"-- a comment; still a comment\nSELECT 1; /* block; /* nested; */ */ SELECT 2", []string{"-- a comment; still a comment\nSELECT 1", "/* block; /* nested; */ */ SELECT 2"}},
		{"DO $$BEGIN PERFORM 1; END$$; SELECT $1", []string{"DO $$BEGIN PERFORM 1; END$$", "SELECT $1"}},
		{"CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; SELECT f()", []string{"CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql", "SELECT f()"}},
		{" ; ;\n-- only a comment\n", nil},
	} {
		if got := Split(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestKeywordAndIsCommit(t *testing.T) {
	for in, want := range map[string]string{"  commit": "COMMIT", "/* x */ end;": "END", "-- c\nInsert into": "INSERT", "(SELECT 1)": "SELECT", "": ""} {
		if got := Keyword(in); got != want {
			t.Errorf("Keyword(%q) = %q, want %q", in, got, want)
		}
	}
	if !IsCommit("COMMIT") || !IsCommit("end transaction") || IsCommit("ROLLBACK") || IsCommit("SELECT 'COMMIT'") {
		t.Error("IsCommit misjudges")
	}
}
