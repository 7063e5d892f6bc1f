package antipatterns

import (
	"os"
	"strings"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	rt "github.com/idemcheck/idemcheck/internal/reftest"
)

var target *trial.Target

func TestMain(m *testing.M) { os.Exit(rt.Main(m, &target)) }

type writer = harness.Writer[harness.Order]

var (
	b1 = rt.Batch(1, rt.Order(1, 1, 1, "10.00"), rt.Order(2, 1, 1, "20.50"), rt.Order(3, 1, 2, "7"))
	b2 = rt.Batch(2, rt.Order(1, 3, 1, "12.50"), rt.Order(4, 1, 1, "3.25"))
)

func run(t *testing.T, w writer, batches ...harness.Batch[harness.Order]) (*rt.Trial, *trial.State) {
	tr := rt.New(t, target, w)
	for _, b := range batches {
		tr.Deliver(b)
	}
	return tr, tr.State()
}

// wrong asserts that got differs from want and that the diff says each of
// the given things.
func wrong(t *testing.T, want, got *trial.State, says ...string) {
	t.Helper()
	d := rt.Diff(t, want, got)
	if d.Equal {
		t.Fatal("the anti-pattern produced the clean state; the scenario does not show the bug")
	}
	for _, s := range says {
		if !strings.Contains(d.String(), s) {
			t.Errorf("the diff does not say %q:\n%s", s, d)
		}
	}
	t.Logf("as expected:\n%s", d)
}

func TestNaiveInsertDuplicatesOnReplay(t *testing.T) {
	_, want := run(t, NaiveInsert{}, b1)
	_, got := run(t, NaiveInsert{}, b1, b1)
	wrong(t, want, got, "table orders_log: 3 rows extra", `+ {source: "shop", id: 1, version: 1`)
}

func TestAppendOnlyAggregateDoublesCounts(t *testing.T) {
	_, want := run(t, AppendOnlyAggregate{}, b1)
	_, got := run(t, AppendOnlyAggregate{}, b1, b1)
	wrong(t, want, got, "table daily_totals (key event_date): 2 rows changed", `-   "orders":     int64(2),`, `+   "orders":     int64(4),`)
}

func TestNonDeterministicTransformDiffersBetweenCleanRuns(t *testing.T) {
	_, a := run(t, NonDeterministicTransform{}, b1)
	_, b := run(t, NonDeterministicTransform{}, b1)
	wrong(t, a, b, "changed, columns loaded_at, load_id:")
	if d := rt.Diff(t, a, b, trial.IgnoreColumns("loaded_at", "load_id")); !d.Equal {
		t.Errorf("apart from the stamps the runs agree:\n%s", d)
	}
}

func TestDeleteInsertNoTxLeavesPartialStateOnCrash(t *testing.T) {
	_, before := run(t, DeleteInsertNoTx{}, b1)
	_, after := run(t, DeleteInsertNoTx{}, b1, b2)
	tr, _ := run(t, DeleteInsertNoTx{}, b1)
	if !tr.FailAt(b2, 2) { // after the DELETE committed, before the COPY
		t.Fatal("the writer has no second statement")
	}
	crashed := tr.State()
	wrong(t, before, crashed, "rows missing")
	wrong(t, after, crashed, "rows missing")
}

func TestDeleteInsertNoTxDuplicatesUnderOverlap(t *testing.T) {
	_, want := run(t, DeleteInsertNoTx{}, b1)
	tr := rt.New(t, target, DeleteInsertNoTx{})
	first := tr.PauseAt(b1, 2) // deleted, not yet inserted
	if err := tr.Start(b1).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := first.Resume(); err != nil {
		t.Fatal(err)
	}
	wrong(t, want, tr.State(), "table orders_by_day: 3 rows extra")
}

func TestAutoincrementDedupKeyDuplicatesWithNewIDs(t *testing.T) {
	_, want := run(t, AutoincrementDedupKey{}, b1)
	_, got := run(t, AutoincrementDedupKey{}, b1, b1)
	wrong(t, want, got, "3 rows extra", "load_id: 4")
	if d := rt.Diff(t, want, got, trial.ModuloSurrogateKeys()); d.Equal || d.OnlySurrogateKeys {
		t.Errorf("the duplicates are real, not a surrogate-key artefact:\n%s", d)
	}
}

func TestSeedUpsertLetsAnOlderVersionWin(t *testing.T) {
	_, want := run(t, SeedUpsert{}, b1, b2)
	_, got := run(t, SeedUpsert{}, b2, b1)
	wrong(t, want, got, "changed, columns version, amount:", `-   "version":    int64(3),`, `+   "version":    int64(1),`)
}

func TestSeedUpsertLeavesHalfABatchOnCrash(t *testing.T) {
	_, before := run(t, SeedUpsert{}, b1)
	_, after := run(t, SeedUpsert{}, b1, b2)
	tr, _ := run(t, SeedUpsert{}, b1)
	tr.FailAt(b2, 2) // the first record is in, the second never ran
	crashed := tr.State()
	wrong(t, before, crashed, "1 row changed")
	wrong(t, after, crashed, "1 row missing")
}

func TestSeedPartitionOverwriterDuplicatesOtherDaysOnReplay(t *testing.T) {
	_, want := run(t, SeedPartitionOverwriter{}, b1)
	_, got := run(t, SeedPartitionOverwriter{}, b1, b1) // b1 spans days 1 and 2; only day 1 is deleted
	wrong(t, want, got, "table orders_by_day: 1 row extra", `+ {source: "shop", id: 3, version: 1, event_date: "2026-11-02"`)
}

func TestSeedDeduplicatingWriterLosesARecordOnCrash(t *testing.T) {
	_, want := run(t, SeedDeduplicatingWriter{}, b1)
	tr := rt.New(t, target, SeedDeduplicatingWriter{})
	tr.FailAt(b1, 3) // key 1 recorded, record 1 never inserted
	tr.Deliver(b1)   // the retry skips key 1: already "processed"
	wrong(t, want, tr.State(), "table orders_log: 1 row missing", `- {source: "shop", id: 1, version: 1`)
}

func TestSeedDeduplicatingWriterRacesUnderOverlap(t *testing.T) {
	_, want := run(t, SeedDeduplicatingWriter{}, b1)
	tr := rt.New(t, target, SeedDeduplicatingWriter{})
	first := tr.PauseAt(b1, 2) // checked key 1 (absent), not yet recorded it
	if err := tr.Start(b1).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := first.Resume(); err != nil {
		t.Fatal(err)
	}
	wrong(t, want, tr.State(), "table orders_log: 1 row extra")
}

func TestCatalogIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range Catalog() {
		if l.Name == "" || l.AntiPattern == "" || l.Consequence == "" || len(l.Violates) == 0 || l.Fix == "" || l.Broken == nil || l.Fixed == nil {
			t.Errorf("lesson %q is incomplete: %+v", l.Name, l)
		}
		if seen[l.Name] {
			t.Errorf("lesson %q twice", l.Name)
		}
		seen[l.Name] = true
		if got, ok := Lookup(l.Name); !ok || got.Name != l.Name {
			t.Errorf("Lookup(%q) = %v, %v", l.Name, got.Name, ok)
		}
		claimer, ok := l.Fixed.(harness.Claimer)
		if !ok {
			t.Errorf("fix of %s claims no laws", l.Name)
			continue
		}
		for _, law := range l.Violates {
			found := false
			for _, c := range claimer.Claims() {
				found = found || c == law
			}
			if !found {
				t.Errorf("%s violates %s, but its fix %s does not claim it", l.Name, law, l.Fix)
			}
		}
	}
	if len(seen) != 15 {
		t.Errorf("%d lessons, want the seed's 5 anti-patterns, its 3 examples and 7 incidents", len(seen))
	}
	incidents := 0
	for _, l := range Catalog() {
		if l.Source == "" {
			continue
		}
		incidents++
		if !strings.HasPrefix(l.Source, "https://") || len(l.Tags) == 0 || l.Story == "" || l.Why == "" {
			t.Errorf("incident %s lacks its source, tags, story or why: %+v", l.Name, l)
		}
	}
	if incidents < 7 {
		t.Errorf("%d lessons from public bug reports, want at least 7", incidents)
	}
}
