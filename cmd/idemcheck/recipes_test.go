package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// allLaws are the laws, by name.
var allLaws = []string{"Determinism", "ReplayIdempotence", "RetryEquivalence", "CrashAtomicity", "ExactlyOnceEffect",
	"OrderIndependence", "IncrementalEquivalence", "ZombieSafety"}

// recipe is a correct writer built on a client library, as the README's
// recipes show it: how it is started and what it claims.
type recipe struct {
	name string
	args []string // what to certify, and how (--exec, --setup-sql, --partition-field)
	node bool     // it needs the Node packages of testdata/recipes/node
	// claims are the laws it claims (nil: every law).
	claims []string
}

// partitionClaims are an unguarded partition overwrite's laws, as
// reference.PartitionOverwrite's: all but OrderIndependence (a day's
// older batch arriving late replaces a newer one).
var partitionClaims = []string{"Determinism", "ReplayIdempotence", "RetryEquivalence", "CrashAtomicity", "ExactlyOnceEffect",
	"IncrementalEquivalence", "ZombieSafety"}

var recipes = []recipe{
	{"SQLAlchemy upsert", []string{"--exec", "/usr/bin/python3 testdata/recipes/sqlalchemy_upsert.py", "--setup-sql", "testdata/setup.sql"}, false, nil},
	{"pandas partition overwrite", []string{"--exec", "/usr/bin/python3 testdata/recipes/pandas_partition.py", "--setup-sql", "testdata/setup.sql",
		"--partition-field", "event_date"}, false, partitionClaims},
	{"psycopg 3 upsert", []string{"--exec", "/usr/bin/python3 testdata/recipes/psycopg_upsert.py", "--setup-sql", "testdata/setup.sql"}, false, nil},
	{"knex upsert", []string{"--exec", "node testdata/recipes/node/knex_upsert.js", "--setup-sql", "testdata/setup.sql"}, true, nil},
	{"Sequelize upsert", []string{"--exec", "node testdata/recipes/node/sequelize_upsert.js", "--setup-sql", "testdata/setup.sql"}, true, nil},
}

// TestCertifyRecipes certifies every recipe of another language on the
// laws a crash or a reordering tests, with a small budget so that the
// suite stays within minutes (coverage is then not asserted: the smoke
// scenarios fire the faults whatever the seed). IDEMCHECK_RECIPES=full
// certifies each at the default settings, every law it claims,
// conclusively: about half an hour (pandas takes 1-2 s an attempt), so
// run it with -timeout 60m; the README gives the times.
func TestCertifyRecipes(t *testing.T) {
	needTools(t, "/usr/bin/python3", "node", "npm")
	full := os.Getenv("IDEMCHECK_RECIPES") == "full"
	for _, r := range recipes {
		t.Run(r.name, func(t *testing.T) {
			if r.node {
				nodePackages(t)
			}
			args := append([]string{}, r.args...)
			claims := r.claims
			if claims == nil {
				claims = allLaws
			}
			if !full { // the laws a crash or a reordering tests, of those it claims
				claims = slices.DeleteFunc(slices.Clone(claims), func(l string) bool {
					return l != "RetryEquivalence" && l != "CrashAtomicity" && l != "OrderIndependence"
				})
				args = append(args, "--checks", "2", "--min-coverage", "0")
			}
			args = append(args, "--laws", strings.Join(claims, ","))
			want := map[string]string{}
			for _, l := range claims {
				want[l] = "held"
			}
			got := certify(t, exitOK, args...)
			for law, v := range want {
				if got[law].Verdict != v {
					t.Errorf("%s: %s (%s), want %s", law, got[law].Verdict, got[law].Reason, v)
				}
			}
		})
	}
}

// nodePackages installs the Node recipes' packages (npm ci, from the
// lock file) unless they are there.
func nodePackages(t *testing.T) {
	t.Helper()
	dir := filepath.Join("testdata", "recipes", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "amqplib")); err == nil { // the newest package
		return
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}
