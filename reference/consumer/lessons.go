package consumer

import "github.com/idemcheck/idemcheck/harness"

// Lesson is a broken mode taught as a lesson: what it does wrong, the
// public incident it renders, the law that catches it and what the
// finding says. Its fix is ExactlyOnce; Fix says what ExactlyOnce does
// that the mode does not.
type Lesson struct {
	Mode        Mode
	AntiPattern string
	Consequence string
	Source      string // the public incident
	Law         harness.Law
	Fix         string
}

// Name is the lesson's name in idemcheck lessons: "consumer/" and its mode.
func (l Lesson) Name() string { return "consumer/" + string(l.Mode) }

// Lessons are the broken consumers, in teaching order.
func Lessons() []Lesson {
	return []Lesson{
		{CommitFirst, "offsets committed for polled records before they are written",
			"a kill between the commit and the write loses the records for good",
			"https://github.com/twmb/franz-go/issues/57", harness.RetryEquivalence,
			"offsets committed only after the write's transaction"},
		{InsertThenCommit, "records inserted without a key, offsets committed after",
			"a kill between the insert and the commit inserts them again on restart",
			"https://github.com/confluentinc/kafka-connect-jdbc/issues/327", harness.RetryEquivalence,
			"a dedup key, and the offsets kept in the write's transaction"},
		{OffsetsApart, "offsets kept in the database, but in a transaction of their own",
			"a kill between the two transactions applies the records twice",
			"https://github.com/justonedb/kafka-sink-pg-json/issues/18", harness.RetryEquivalence,
			"the offsets kept in the write's transaction"},
		{Unfenced, "offsets kept in the write's transaction, but not fenced",
			"a consumer removed from its group (a zombie) applies its poll after its successor did",
			"https://github.com/redpanda-data/connect/issues/433", harness.ZombieSafety,
			"the stored offsets locked, and the records below them skipped"},
		{SkipFailed, "a failed write logged and its offsets committed anyway",
			"the records of the failed write are skipped for good",
			"https://github.com/vectordotdev/vector/issues/24215", harness.RetryEquivalence,
			"a failed write is not committed past: the consumer exits and is restarted"},
		{LatestByArrival, "each customer's latest order kept by arrival, across partitions",
			"the records of two partitions reach the consumer in no fixed order: another interleaving keeps another order as the latest",
			"https://github.com/divolte/divolte-collector/issues/62", harness.OrderIndependence,
			"the latest order chosen by the orders' own order, not by arrival"},
	}
}
