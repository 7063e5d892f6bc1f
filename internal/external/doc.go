// Package external adapts writers that are not Go code to harness.Writer:
// a command run once per delivery attempt (any language, any driver), and
// a SQL file run statement by statement against the batch loaded into a
// temporary table. Both talk to the database only through the attempt's
// fault proxy.
package external
