// Package sqlsplit splits SQL text into statements the way psql does: at
// semicolons outside quotes, dollar quotes, comments and parentheses. It
// does not parse SQL; it only finds the boundaries and the leading keyword.
package sqlsplit
