package queue

import "github.com/idemcheck/idemcheck/harness"

// Lesson is a broken mode taught as a lesson: what it does wrong, the
// public incident it renders, the law that catches it and what the fix,
// ExactlyOnce, does instead.
type Lesson struct {
	Mode        Mode
	AntiPattern string
	Consequence string
	Source      string // the public incident
	Law         harness.Law
	Fix         string
}

// Name is the lesson's name in idemcheck lessons: "queue/" and its mode.
func (l Lesson) Name() string { return "queue/" + string(l.Mode) }

// Lessons are the broken queue consumers, in teaching order.
func Lessons() []Lesson {
	return []Lesson{
		{AckFirst, "the message acked before it is processed",
			"a crash after the ack loses the message: the server never delivers it again",
			"https://github.com/osm2vectortiles/osm2vectortiles/pull/383", harness.RetryEquivalence,
			"the ack sent after the effect's transaction commits"},
		{DedupApart, "the dedup key recorded in a transaction of its own, after the effect's",
			"a crash between the two leaves the effect without its key: the redelivery applies it again",
			"https://github.com/marcomq/mq-bridge/pull/10", harness.RetryEquivalence,
			"the dedup key recorded in the effect's transaction"},
		{CheckThenInsert, "the dedup key looked up, then the effect and the key inserted, with no constraint on the key",
			"two deliveries of one message handled at once (a stalled consumer's and the redelivery's) both find the key absent",
			"https://github.com/apache/camel/pull/2943", harness.ZombieSafety,
			"the key's unique constraint decides, in the effect's transaction"},
		{LateAck, "acked after the commit, but with no dedup key",
			"a consumer stalled past AckWait has its message redelivered and applied elsewhere; it wakes, applies it again, and the server accepts its late ack",
			"https://github.com/nats-io/nats-server/issues/4786", harness.ZombieSafety,
			"a dedup key recorded with the effect"},
	}
}
