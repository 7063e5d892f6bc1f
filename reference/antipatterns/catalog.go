package antipatterns

import (
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/reference"
)

// Lesson is one anti-pattern, as data the CLI and the docs show.
type Lesson struct {
	Name        string        // the lesson's name (for the seed's lessons, the broken writer's type)
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
	// Source is the public bug report the lesson renders ("" for the seed
	// document's anti-patterns); Tags name the tool and the mechanism.
	Source string
	Tags   []string
	// Story says what the tool's users saw; Why says which law catches it
	// and why the others cannot (the oracle is one clean run, so a bug the
	// clean run shares is caught only by a law whose two sides differ).
	Story, Why string
}

// Catalog lists every lesson: the seed's anti-pattern table, the seed's
// own code examples, then the incidents rendered from public bug reports.
func Catalog() []Lesson {
	return append([]Lesson{
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
	}, incidents()...)
}

// incidents are lessons rendered from public bug reports of data tools.
func incidents() []Lesson {
	return []Lesson{
		{
			Name: "DbtMicrobatchUnfiltered", AntiPattern: "dbt microbatch, first build: each batch's temporary table is the whole source, not its event-time window",
			Consequence: "every batch re-inserts every row: the first build duplicates data once per batch",
			Violates:    []harness.Law{harness.IncrementalEquivalence, harness.ReplayIdempotence},
			Fix:         "DbtMicrobatch{Filtered: true}", Broken: DbtMicrobatch{}, Fixed: DbtMicrobatch{Filtered: true},
			WholePartitions: true,
			Source:          "https://github.com/dbt-labs/dbt-core/issues/10924", Tags: []string{"dbt", "microbatch", "delete+insert"},
			Story: "A new model with the microbatch incremental strategy was built for the first time. For each batch dbt deleted the batch's event-time window, " +
				"but the temporary table it inserted from had no event-time filter: it held the whole source, so every batch inserted every row again and the first build duplicated the data, more with every batch.",
			Why: "The clean run splits the records into windows too, so it duplicates as well; IncrementalEquivalence compares it with all records as one batch (a full refresh), " +
				"which inserts each row once. ReplayIdempotence catches it too: replaying a later window re-inserts the earlier ones.",
		},
		{
			Name: "AirbyteRetryAppends", AntiPattern: "Airbyte destination: append to the raw table, then normalize, as two steps; a failed sync is retried from the start",
			Consequence: "each retry appends the records again: 100 source rows became 300 after three attempts",
			Violates:    []harness.Law{harness.RetryEquivalence, harness.ReplayIdempotence},
			Fix:         "AirbyteRawAppend{Dedup: true}", Broken: AirbyteRawAppend{}, Fixed: AirbyteRawAppend{Dedup: true},
			Source: "https://github.com/airbytehq/airbyte/issues/12336", Tags: []string{"airbyte", "retry", "append"},
			Story: "A MySQL-to-MySQL sync failed after it had written, and the worker retried it three times. Every attempt appended the records to the raw table again, " +
				"and normalization built the final table from all of them: 100 source rows, 300 in the destination.",
			Why: "RetryEquivalence crashes the sync after its raw append committed and retries: the final table has the records twice, the clean run once. " +
				"Each attempt is ordinary; only a retry after a committed step shows the difference.",
		},
		{
			Name: "KafkaJDBCSinkOffsetsAfterWrite", AntiPattern: "Kafka Connect JDBC sink: insert the records, commit the consumer offsets afterwards",
			Consequence: "a crash between the insert and the offset commit replays the records: duplicates",
			Violates:    []harness.Law{harness.RetryEquivalence, harness.ExactlyOnceEffect},
			Fix:         "KafkaJDBCSink{OffsetsInTx: true}", Broken: KafkaJDBCSink{}, Fixed: KafkaJDBCSink{OffsetsInTx: true},
			Source: "https://github.com/confluentinc/kafka-connect-jdbc/issues/874", Tags: []string{"kafka-connect", "jdbc-sink", "offsets", "exactly-once"},
			Story: "The JDBC sink inserts records and the Connect worker commits their offsets later, asynchronously. When the worker died after the insert but before the offset commit, " +
				"it resumed from the last committed offsets and inserted the records again; users fell back to upserts, and kafka-connect-jdbc#988 proposed storing the offsets in the database, in the same transaction.",
			Why: "RetryEquivalence crashes after the insert's commit, before the offset commit; ExactlyOnceEffect loses the insert's reply (the ambiguous commit). " +
				"ReplayIdempotence does not catch it: a batch delivered again after its offsets were committed is skipped, as the sink does.",
		},
		{
			Name: "TargetPostgresUpdatesTemp", AntiPattern: "Singer target-postgres upsert: insert new keys into the target, but UPDATE the temporary table",
			Consequence: "every update of an existing key is lost when the temporary table is dropped",
			Violates:    []harness.Law{harness.IncrementalEquivalence, harness.OrderIndependence},
			Fix:         "TargetPostgresUpsert{UpdateTarget: true}", Broken: TargetPostgresUpsert{}, Fixed: TargetPostgresUpsert{UpdateTarget: true},
			Source: "https://github.com/MeltanoLabs/target-postgres/issues/169", Tags: []string{"meltano", "singer", "target-postgres", "upsert"},
			Story: "The target loaded each batch into a temporary table, inserted the keys the target did not have, and then ran the UPDATE for the existing keys against the temporary table instead of the target. " +
				"The temporary table was dropped, and with it every update: rows kept their first version.",
			Why: "The clean run loses the updates too, so the laws that compare a faulty run with it see nothing. IncrementalEquivalence applies all records as one batch, " +
				"where the newest version is inserted at once; OrderIndependence delivers the newer version first, so the lost update leaves the newer row instead of the older one.",
		},
		{
			Name: "DltMergeWithoutKey", AntiPattern: "dlt merge write disposition on a table with no primary or merge key: the merge deletes every row",
			Consequence: "each load replaces the table with its own records: earlier loads are lost",
			Violates:    []harness.Law{harness.IncrementalEquivalence, harness.OrderIndependence},
			Fix:         "Upsert", Broken: DltMergeWithoutKey{}, Fixed: reference.Upsert{},
			Source: "https://github.com/dlt-hub/dlt/issues/1005", Tags: []string{"dlt", "merge", "data loss"},
			Story: "With write_disposition merge and neither a primary key nor a merge key, dlt's merge job fell back to replace: its delete matched every row of the table, " +
				"so each load kept only its own records. Switching a resource from append to merge and forgetting the key lost data; dlt changed the fallback to append (dlt#1047, dlt#1225).",
			Why: "The clean run loses the earlier loads too. IncrementalEquivalence loads all records at once and keeps them all; OrderIndependence keeps whichever batch came last. " +
				"The fix declares the key (the reference Upsert), so a merge replaces only what a batch carries.",
		},
		{
			Name: "AirflowTaskRerunAppends", AntiPattern: "an Airflow task appends its DAG run's rows to a table without a key, and the scheduler runs it again after it succeeded",
			Consequence: "the re-run appends every row again",
			Violates:    []harness.Law{harness.ReplayIdempotence, harness.ExactlyOnceEffect},
			Fix:         "AirflowTaskRerun{ReplaceRun: true}", Broken: AirflowTaskRerun{}, Fixed: AirflowTaskRerun{ReplaceRun: true},
			Source: "https://github.com/apache/airflow/issues/29872", Tags: []string{"airflow", "orchestrator", "re-run", "append"},
			Story: "A task finished with SUCCESS and then ran again, without retries configured. Its insert into a Postgres log table failed on the primary key; " +
				"the other tasks inserted into tables without keys, which would simply have received every row twice.",
			Why: "ReplayIdempotence delivers the same run twice, as the scheduler did; ExactlyOnceEffect loses the first run's ack. The fix replaces its own run's rows, keyed by the run, in one transaction.",
		},
		{
			Name: "SQLMeshConcurrentDeleteInsert", AntiPattern: "SQLMesh DELETE_INSERT overwrite of an interval, in a transaction but not serialized per interval",
			Consequence: "two runs of one empty interval both delete nothing and both insert: duplicates",
			Violates:    []harness.Law{harness.ZombieSafety},
			Fix:         "PartitionOverwrite", Broken: SQLMeshDeleteInsert{}, Fixed: reference.PartitionOverwrite{},
			WholePartitions: true,
			Source:          "https://github.com/SQLMesh/sqlmesh/issues/3866", Tags: []string{"sqlmesh", "concurrency", "delete+insert"},
			Story: "Two runs of the same model and interval overlapped. Each deleted the interval (empty, so nothing) and inserted its rows, each in its own transaction: " +
				"neither saw the other's uncommitted rows, and the interval held every row twice.",
			Why: "Only ZombieSafety runs two attempts of one batch at once: an attempt stalls before its commit while its retry runs and commits, then it resumes. " +
				"Every other law delivers one attempt at a time, and one at a time the overwrite is correct. The fix takes a lock per interval first (the reference PartitionOverwrite).",
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
