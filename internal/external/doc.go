// Package external adapts writers that are not Go code to harness.Writer:
// a command run once per delivery attempt (any language, any driver), and
// a SQL file run statement by statement against the batch loaded into a
// temporary table. Both talk to the database only through the attempt's
// fault proxy. A command runs as sh -c would run it, started directly
// when it is a program followed by plain words (start.go); its batch file
// is in memory when the machine has room (package scratch).
package external
