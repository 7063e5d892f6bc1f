// Package strategies holds what idemcheck draws and enumerates its trials
// from: records, batches, deliveries (duplicated, permuted), fault plans
// and zombie interleavings, and the fixed scenarios (smoke scenarios and
// exhaustive enumeration).
//
// Fault points come from a map: the Conversation a batch's clean attempt
// had with the server, round by round (what commits, what copies, what
// runs inside a transaction). CrashIn, Attempts, LostAcks and Zombies
// draw points the conversation has, weighted toward commits and
// with the last as likely as the first, so a dangerous late step is found
// as easily as an early one; Crashes and Representatives list one point
// of every class for exhaustive mode.
//
// CrashPoints, CommitPoints and StallPoints list a conversation's points
// with their classes (classes.go): points whose crash leaves the same
// state are one class, and a loop's repetitions fold into its first, a
// middle and its last iteration, so that coverage counts what a writer
// does, not how many records it was given. Half of the random draws pick
// a class first, then a point in it. Draws are labelled and built to shrink
// toward the simplest case: fewer batches, fewer records, smaller ids,
// earlier points, the plainest fault.
//
// The default records are harness.Order values whose content is a pure
// function of (id, version), so no scenario ever gives one version two
// contents. A Go team certifying its own record type passes its own
// *rapid.Generator[R] and keeps that promise itself.
//
// The package only generates; it never runs anything (and does not import
// testing).
package strategies
