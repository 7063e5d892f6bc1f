// Package recordspec describes custom records for external writers: what
// `idemcheck certify --records` takes when a writer's batches are not the
// default order events.
//
// A spec names each field with a PostgreSQL type and, optionally, a role:
//
//	sensor:text:key, day:date:partition, seq:bigint:version, reading:numeric
//
// From a spec the package draws records the way strategies.Orders draws
// orders: key fields from small domains so that batches collide on keys,
// the version from 1..3, and every other field a function of the key and
// version (the partition field of the key alone), so one (key, version)
// always carries one content and a writer that keeps the newest version
// is deterministic. Without a key field every field is drawn on its own.
// The values are the edge cases of each type: unicode and quotes in text,
// numerics whose scale matters (12.50 vs 12.5), bigints beyond float64's
// integers.
//
// Instead of a spec, a file of sample records (JSON lines) can be given:
// batches are then drawn from its records, and the column types for a
// SQL writer's batch table are inferred from the values.
package recordspec
