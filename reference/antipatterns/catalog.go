package antipatterns

import (
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/reference"
)

// Lesson is one anti-pattern, as data the CLI and the docs show.
type Lesson struct {
	Name        string        // the broken writer's type name
	AntiPattern string        // what it does, in one line
	Consequence string        // what that costs
	Violates    []harness.Law // the laws that must catch it
	Fix         string        // the reference writer that fixes it
	Broken      harness.Writer[harness.Order]
	Fixed       harness.Writer[harness.Order]
	// WholePartitions: certify with a partition field (every batch one
	// whole day), as the partition writers it breaks are.
	WholePartitions bool
	// ModuloSurrogateKeys: compare without surrogate key columns, so that
	// only real duplicates count, not ids a rolled-back insert skipped.
	ModuloSurrogateKeys bool
}

// Catalog lists every lesson: the seed's anti-pattern table, then the seed's
// own code examples.
func Catalog() []Lesson {
	return []Lesson{
		{
			Name: "NaiveInsert", AntiPattern: "INSERT without dedup",
			Consequence: "duplicates on retry",
			Violates:    []harness.Law{harness.ReplayIdempotence, harness.RetryEquivalence, harness.ExactlyOnceEffect},
			Fix:         "Upsert", Broken: NaiveInsert{}, Fixed: reference.Upsert{},
		},
		{
			Name: "AppendOnlyAggregate", AntiPattern: "append-only aggregation (count = count + n)",
			Consequence: "counts doubled on retry",
			Violates:    []harness.Law{harness.ReplayIdempotence, harness.RetryEquivalence, harness.ExactlyOnceEffect},
			Fix:         "Aggregate", Broken: AppendOnlyAggregate{}, Fixed: reference.Aggregate{},
		},
		{
			Name: "NonDeterministicTransform", AntiPattern: "non-deterministic transform (stamps now() and a random id)",
			Consequence: "different results on retry",
			Violates:    []harness.Law{harness.Determinism},
			Fix:         "Upsert", Broken: NonDeterministicTransform{}, Fixed: reference.Upsert{},
		},
		{
			Name: "DeleteInsertNoTx", AntiPattern: "DELETE + INSERT without a transaction",
			Consequence: "partial state on crash, duplicates from overlapping attempts",
			Violates:    []harness.Law{harness.CrashAtomicity, harness.ZombieSafety},
			Fix:         "PartitionOverwrite", Broken: DeleteInsertNoTx{}, Fixed: reference.PartitionOverwrite{},
			WholePartitions: true,
		},
		{
			Name: "AutoincrementDedupKey", AntiPattern: "autoincrement as dedup key",
			Consequence: "new id on retry = duplicate with a different id",
			Violates:    []harness.Law{harness.ReplayIdempotence, harness.RetryEquivalence, harness.ExactlyOnceEffect},
			Fix:         "Dedup", Broken: AutoincrementDedupKey{}, Fixed: reference.Dedup{},
			ModuloSurrogateKeys: true,
		},
		{
			Name: "SeedUpsert", AntiPattern: "the seed's UpsertWriter: row-by-row upsert, no version guard, no transaction",
			Consequence: "an older version arriving late overwrites a newer one; a crash leaves half a batch",
			Violates:    []harness.Law{harness.OrderIndependence, harness.CrashAtomicity},
			Fix:         "Upsert", Broken: SeedUpsert{}, Fixed: reference.Upsert{},
		},
		{
			Name: "SeedPartitionOverwriter", AntiPattern: "the seed's PartitionOverwriter: DELETE then INSERT without a transaction, partition taken from records[0]",
			Consequence: "a crash empties the partition; a batch spanning days duplicates the others on replay; overlapping attempts duplicate rows",
			Violates:    []harness.Law{harness.ReplayIdempotence, harness.CrashAtomicity, harness.ZombieSafety},
			Fix:         "PartitionOverwrite", Broken: SeedPartitionOverwriter{}, Fixed: reference.PartitionOverwrite{},
		},
		{
			Name: "SeedDeduplicatingWriter", AntiPattern: "the seed's DeduplicatingWriter: SELECT key, INSERT key, INSERT record as three autocommit statements",
			Consequence: "a crash between the key and the record loses the record forever; two attempts both pass the check",
			Violates:    []harness.Law{harness.RetryEquivalence, harness.CrashAtomicity, harness.ZombieSafety},
			Fix:         "Dedup", Broken: SeedDeduplicatingWriter{}, Fixed: reference.Dedup{},
		},
	}
}

// Lookup returns the lesson of the broken writer name.
func Lookup(name string) (Lesson, bool) {
	for _, l := range Catalog() {
		if l.Name == name {
			return l, true
		}
	}
	return Lesson{}, false
}
