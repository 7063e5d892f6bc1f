// Package strategies holds the rapid generators idemcheck draws its trials
// from: records, batches, deliveries (duplicated, permuted), fault plans and
// zombie interleavings. Draws are labelled and built to shrink toward the
// simplest case: fewer batches, fewer records, smaller ids, the first round,
// the plainest fault.
//
// The default records are harness.Order values whose content is a pure
// function of (id, version), so no scenario ever gives one version two
// contents. A Go team certifying its own record type passes its own
// *rapid.Generator[R] and keeps that promise itself.
//
// The package only generates; it never runs anything (and does not import
// testing).
package strategies
