package sqlsplit

import (
	"strings"
	"unicode"
)

// Split returns the statements of sql, each without its terminating
// semicolon and trimmed; empty statements are dropped.
func Split(sql string) []string {
	var out []string
	start := 0
	depth := 0
	for i := 0; i < len(sql); {
		switch c := sql[i]; {
		case c == '\'' || c == '"':
			i = skipQuoted(sql, i, c)
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
		case c == '$':
			i = skipDollar(sql, i)
		case c == '(':
			depth++
			i++
		case c == ')':
			if depth > 0 {
				depth--
			}
			i++
		case c == ';' && depth == 0:
			if s := strings.TrimSpace(sql[start:i]); s != "" && Keyword(s) != "" {
				out = append(out, s)
			}
			i++
			start = i
		default:
			i++
		}
	}
	if s := strings.TrimSpace(sql[start:]); s != "" && Keyword(s) != "" {
		out = append(out, s)
	}
	return out
}

func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q { // doubled quote
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

func skipBlockComment(s string, i int) int {
	depth := 0
	for j := i; j < len(s)-1; j++ {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			depth++
			j++
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// skipDollar skips a dollar-quoted string starting at i, or just the '$'
// when it is a parameter such as $1.
func skipDollar(s string, i int) int {
	j := i + 1
	for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j])) || (j > i+1 && unicode.IsDigit(rune(s[j])))) {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i + 1
	}
	tag := s[i : j+1]
	if k := strings.Index(s[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(s)
}

// Keyword returns the first word of a statement, upper-cased, after
// comments and white space ("" when there is none).
func Keyword(stmt string) string {
	s := stmt
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		switch {
		case strings.HasPrefix(s, "--"):
			if j := strings.IndexByte(s, '\n'); j >= 0 {
				s = s[j+1:]
				continue
			}
			return ""
		case strings.HasPrefix(s, "/*"):
			s = s[skipBlockComment(s, 0):]
			continue
		case strings.HasPrefix(s, "("):
			s = s[1:]
			continue
		}
		break
	}
	end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && r != '_' })
	if end < 0 {
		end = len(s)
	}
	return strings.ToUpper(s[:end])
}

// IsCommit reports whether a statement ends a transaction by committing it
// (COMMIT, END, COMMIT PREPARED).
func IsCommit(stmt string) bool {
	k := Keyword(stmt)
	return k == "COMMIT" || k == "END"
}

// Writes reports whether a statement changes data or schema, so that run
// outside a transaction block it commits on its own.
func Writes(stmt string) bool {
	switch Keyword(stmt) {
	case "", "SELECT", "BEGIN", "START", "SHOW", "SET", "RESET", "ROLLBACK", "ABORT", "PREPARE",
		"DEALLOCATE", "DISCARD", "LISTEN", "UNLISTEN", "EXPLAIN", "FETCH", "CLOSE", "DECLARE", "VALUES", "TABLE":
		return false
	}
	return true
}

// Abbreviate puts sql on one line (runs of white space become one space)
// and cuts it to at most n bytes, ending in "..." when cut.
func Abbreviate(sql string, n int) string {
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > n {
		sql = sql[:n-3] + "..."
	}
	return sql
}
