// Package external adapts writers that are not Go code to harness.Writer:
// a command run once per delivery attempt (any language, any driver), and
// a SQL file run statement by statement against the batch loaded into a
// temporary table. Both talk to the database only through the attempt's
// fault proxy.
package external

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/internal/ordertable"
	"github.com/idemcheck/idemcheck/internal/sqlsplit"
	"github.com/jackc/pgx/v5"
)

// Exec runs Command (with sh -c) for every delivery attempt. The batch
// comes as JSON lines on stdin and in IDEMCHECK_BATCH_FILE; the database is
// reached through PGHOST/PGPORT/PGDATABASE/PGUSER/PGOPTIONS, DATABASE_URL
// or IDEMCHECK_DSN, all pointing at the attempt's fault proxy with
// search_path set to the sandbox. Exit status 0 acks the batch; anything
// else fails the attempt. At a crash point, and after Timeout, the command's
// whole process group is killed.
type Exec struct {
	Command string
	// SetupCommand runs once per sandbox to create the writer's tables.
	SetupCommand string
	Timeout      time.Duration // per attempt; default 60s
}

// Setup runs SetupCommand, if any.
func (w Exec) Setup(ctx context.Context, env *harness.Env) error {
	if w.SetupCommand == "" {
		return nil
	}
	return run(ctx, env, w.SetupCommand, nil, "", w.timeout())
}

// Write runs Command for one attempt of b.
func (w Exec) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	lines, err := jsonLines(b.Records)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "idemcheck-batch-*.jsonl")
	if err != nil {
		return fmt.Errorf("batch file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(lines); err != nil {
		f.Close()
		return fmt.Errorf("batch file: %w", err)
	}
	f.Close()
	vars := []string{
		"IDEMCHECK_BATCH_FILE=" + f.Name(),
		"IDEMCHECK_BATCH_ID=" + b.ID,
		"IDEMCHECK_PARTITION=" + b.Partition,
		fmt.Sprintf("IDEMCHECK_ATTEMPT=%d", env.Attempt),
		"IDEMCHECK_LOGICAL_TIME=" + b.LogicalTime.UTC().Format(time.RFC3339Nano),
	}
	return run(ctx, env, w.Command, vars, string(lines), w.timeout())
}

func (w Exec) timeout() time.Duration {
	if w.Timeout > 0 {
		return w.Timeout
	}
	return 60 * time.Second
}

// Name describes the writer for reports and replay files, in a form
// ParseName reads back: exec "CMD" [setup "CMD"].
func (w Exec) Name() string {
	n := "exec " + strconv.Quote(w.Command)
	if w.SetupCommand != "" {
		n += " setup " + strconv.Quote(w.SetupCommand)
	}
	return n
}

// ParseName reads what Exec.Name and SQL.Name write and returns the
// writer's parts: kind "exec" or "sql", the command or file, and the setup.
func ParseName(name string) (kind, main, setup string, err error) {
	fields := strings.SplitN(name, " ", 2)
	if len(fields) != 2 || (fields[0] != "exec" && fields[0] != "sql") {
		return "", "", "", fmt.Errorf("%q is not an external writer", name)
	}
	kind = fields[0]
	rest := fields[1]
	if main, rest, err = unquoteNext(rest); err != nil {
		return "", "", "", err
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return kind, main, "", nil
	}
	word, rest, _ := strings.Cut(rest, " ")
	if word != "setup" && word != "setup-sql" {
		return "", "", "", fmt.Errorf("%q: unexpected %q", name, word)
	}
	setup, _, err = unquoteNext(rest)
	return kind, main, setup, err
}

// unquoteNext unquotes the Go-quoted string at the start of s.
func unquoteNext(s string) (string, string, error) {
	s = strings.TrimSpace(s)
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	v, err := strconv.Unquote(q)
	return v, s[len(q):], err
}

func jsonLines(records []harness.Order) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// tailWriter keeps the last bytes written to it.
type tailWriter struct{ buf []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	s := strings.TrimSpace(string(t.buf))
	if i := strings.LastIndexByte(s, '\n'); len(s) > 600 && i > 0 {
		s = "..." + s[len(s)-600:]
	}
	return s
}

// run runs command in its own process group with the attempt's
// environment, killed at a crash point or after timeout.
func run(ctx context.Context, env *harness.Env, command string, vars []string, stdin string, timeout time.Duration) error {
	dsn := env.ConnString()
	u, err := url.Parse(dsn)
	if err != nil || dsn == "" {
		return fmt.Errorf("no connection string for the attempt")
	}
	pw, _ := u.User.Password()
	cmd := exec.Command("sh", "-c", command)
	cmd.Env = append(os.Environ(),
		"PGHOST="+u.Hostname(), "PGPORT="+u.Port(), "PGDATABASE="+strings.TrimPrefix(u.Path, "/"),
		"PGUSER="+u.User.Username(), "PGPASSWORD="+pw, "PGOPTIONS="+u.Query().Get("options"),
		"PGSSLMODE=disable", "DATABASE_URL="+dsn, "IDEMCHECK_DSN="+dsn)
	cmd.Env = append(cmd.Env, vars...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr tailWriter
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	started := make(chan struct{})
	var p *faults.Process
	env.OnCrash(func() {
		<-started
		p.Kill()
	})
	p, err = faults.Start(cmd)
	close(started)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait(timeout) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		p.Kill()
		err = <-done
	}
	switch {
	case err == nil:
		return nil
	case p.Killed() && !errors.Is(err, faults.ErrTimeout):
		return fmt.Errorf("killed at a crash point")
	default:
		if tail := stderr.String(); tail != "" {
			return fmt.Errorf("%v: %s", err, tail)
		}
		return err
	}
}

// SQL runs File against each batch: the batch is loaded into the temporary
// table batch (source text, id bigint, version bigint, event_date date,
// customer text, amount numeric), then File's statements run one by one in
// the simple query protocol, as psql -v ON_ERROR_STOP=1 -f runs them, so
// its BEGIN and COMMIT, or their absence, mean what they say. The first
// failing statement fails the attempt.
type SQL struct {
	File      string
	SetupFile string
	stmts     []string
	setup     []string
}

// LoadSQL reads the files and splits them into statements.
func LoadSQL(file, setupFile string) (*SQL, error) {
	w := &SQL{File: file, SetupFile: setupFile}
	var err error
	if w.stmts, err = statements(file); err != nil {
		return nil, err
	}
	if len(w.stmts) == 0 {
		return nil, fmt.Errorf("%s holds no SQL statement", file)
	}
	if setupFile != "" {
		if w.setup, err = statements(setupFile); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func statements(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return sqlsplit.Split(string(b)), nil
}

// Name describes the writer for reports and replay files, in a form
// ParseName reads back: sql "FILE" [setup-sql "FILE"].
func (w *SQL) Name() string {
	n := "sql " + strconv.Quote(w.File)
	if w.SetupFile != "" {
		n += " setup-sql " + strconv.Quote(w.SetupFile)
	}
	return n
}

// Setup runs the setup file's statements.
func (w *SQL) Setup(ctx context.Context, env *harness.Env) error {
	return runStatements(ctx, env.Conn, w.SetupFile, w.setup)
}

// Write loads the batch and runs the file.
func (w *SQL) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	if err := env.Conn.PgConn().Exec(ctx, `CREATE TEMP TABLE batch (source text, id bigint, version bigint, event_date date, customer text, amount numeric)`).Close(); err != nil {
		return fmt.Errorf("create the batch table: %w", err)
	}
	if _, err := env.Conn.CopyFrom(ctx, pgx.Identifier{"batch"}, ordertable.Columns, pgx.CopyFromRows(ordertable.Rows(b.Records))); err != nil {
		return fmt.Errorf("load the batch: %w", err)
	}
	return runStatements(ctx, env.Conn, w.File, w.stmts)
}

func runStatements(ctx context.Context, conn *pgx.Conn, file string, stmts []string) error {
	for i, st := range stmts {
		if _, err := conn.PgConn().Exec(ctx, st).ReadAll(); err != nil {
			return fmt.Errorf("%s, statement %d (%s): %w", file, i+1, abbreviate(st), err)
		}
	}
	return nil
}

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
