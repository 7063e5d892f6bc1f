// Package reference holds correct, fast writers for the three idempotent
// write patterns (upsert, partition overwrite, deduplication key) and an
// aggregate written by partition overwrite, all for harness.Order records
// against PostgreSQL. They are what users copy, and the subjects the
// harness's own tests certify. Package reference/antipatterns holds their
// broken counterparts.
//
// Every writer is set-based: the batch travels as array parameters of one
// INSERT ... SELECT FROM unnest(...) per table (duplicates of a key resolved
// in Go first), all in one transaction. Identifiers are
// quoted with pgx.Identifier and values travel as parameters or through COPY,
// never by string formatting.
package reference
