// Package reftest drives writers through hand-written scenarios for the
// tests of packages reference and antipatterns: deliveries in a given
// order, an attempt that fails after its k-th statement and is retried, and
// an attempt paused before its k-th statement while another runs. It is the
// hand-held precursor of the property engine, kept for those tests.
package reftest
