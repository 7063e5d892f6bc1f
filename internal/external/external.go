package external

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/internal/recordspec"
	"github.com/idemcheck/idemcheck/internal/scratch"
	"github.com/idemcheck/idemcheck/internal/sqlsplit"
	"github.com/jackc/pgx/v5"
)

// Exec runs Command as sh -c would (see shellCommand) for every delivery
// attempt. The batch comes as JSON lines on stdin and in
// IDEMCHECK_BATCH_FILE (in memory when there is room: package scratch);
// the database is reached through PGHOST/PGPORT/PGDATABASE/PGUSER/
// PGOPTIONS, DATABASE_URL or IDEMCHECK_DSN, all pointing at the attempt's
// fault proxy with search_path set to the sandbox; PGSSLMODE and
// PGGSSENCMODE are disable (the proxy speaks neither), and where psql is
// Debian's pg_wrapper, PATH begins with a psql that skips it (see
// pgwrapper.go). Exit status 0 acks the batch; anything else fails the
// attempt. At a crash point, and after Timeout, the command's whole
// process group is killed, and so on a signal that ends idemcheck.
//
// R is the record type: each record is one JSON line, as encoding/json
// writes it.
type Exec[R any] struct {
	Command string
	// SetupSQL (a file run statement by statement) and then SetupCommand
	// run once per sandbox to create the writer's tables.
	SetupSQL     string
	SetupCommand string
	Timeout      time.Duration // per attempt; default 60s
	// Records names custom records (a recordspec spec or sample file) in
	// Name, so that a replay knows them; "" for the default orders.
	Records string
}

// Setup runs SetupSQL's statements, then SetupCommand, if any.
func (w Exec[R]) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, w.SetupSQL, w.SetupCommand, w.timeout())
}

// setup runs the statements of sqlFile, then command ("" for none of
// either): what creates a writer's tables in its sandbox.
func setup(ctx context.Context, env *harness.Env, sqlFile, command string, timeout time.Duration) error {
	if sqlFile != "" {
		stmts, err := statements(sqlFile)
		if err != nil {
			return err
		}
		if err := runStatements(ctx, env.Conn, sqlFile, stmts); err != nil {
			return err
		}
	}
	if command == "" {
		return nil
	}
	return run(ctx, env, command, nil, "", timeout)
}

// ConnectsItself tells the runner that Write never uses env.Conn: the
// command opens its own connections.
func (Exec[R]) ConnectsItself() {}

var _ harness.ConnectsItself = Exec[harness.Order]{}

// Write runs Command for one attempt of b.
func (w Exec[R]) Write(ctx context.Context, env *harness.Env, b harness.Batch[R]) error {
	lines, err := jsonLines(b.Records)
	if err != nil {
		return err
	}
	f, err := scratch.CreateTemp("idemcheck-batch-", ".jsonl")
	if err != nil {
		return fmt.Errorf("batch file: %w", err)
	}
	defer scratch.Remove(f.Name())
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

func (w Exec[R]) timeout() time.Duration {
	if w.Timeout > 0 {
		return w.Timeout
	}
	return 60 * time.Second
}

// Name describes the writer for reports and replay files, in a form
// ParseName reads back: exec "CMD" [setup-sql "FILE"] [setup "CMD"]
// [records "SPEC"].
func (w Exec[R]) Name() string {
	return Name{Kind: "exec", Main: w.Command, SetupSQL: w.SetupSQL, Setup: w.SetupCommand, Records: w.Records}.String()
}

// Name is an external writer's name taken apart.
type Name struct {
	Kind     string // "exec" or "sql"
	Main     string // the command, or the SQL file
	SetupSQL string // the setup SQL file
	Setup    string // the setup command
	Records  string // the custom records' spec or sample file; "" for orders
}

func (n Name) String() string {
	s := n.Kind + " " + strconv.Quote(n.Main)
	if n.SetupSQL != "" {
		s += " setup-sql " + strconv.Quote(n.SetupSQL)
	}
	if n.Setup != "" {
		s += " setup " + strconv.Quote(n.Setup)
	}
	if n.Records != "" {
		s += " records " + strconv.Quote(n.Records)
	}
	return s
}

// ParseName reads what Exec.Name and SQL.Name write.
func ParseName(name string) (Name, error) {
	kind, rest, _ := strings.Cut(name, " ")
	if kind != "exec" && kind != "sql" {
		return Name{}, fmt.Errorf("%q is not an external writer", name)
	}
	n := Name{Kind: kind}
	var err error
	if n.Main, rest, err = unquoteNext(rest); err != nil {
		return Name{}, fmt.Errorf("%q: %w", name, err)
	}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		var word, value string
		word, rest, _ = strings.Cut(rest, " ")
		if value, rest, err = unquoteNext(rest); err != nil {
			return Name{}, fmt.Errorf("%q: %w", name, err)
		}
		switch word {
		case "setup-sql":
			n.SetupSQL = value
		case "setup":
			n.Setup = value
		case "records":
			n.Records = value
		default:
			return Name{}, fmt.Errorf("%q: unexpected %q", name, word)
		}
	}
	return n, nil
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

func jsonLines[R any](records []R) ([]byte, error) {
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

// Environ is this process's environment plus what reaches the database
// at dsn: PGHOST/PGPORT/PGDATABASE/PGUSER/PGPASSWORD/PGOPTIONS,
// DATABASE_URL and IDEMCHECK_DSN, PGSSLMODE and PGGSSENCMODE disable, and
// where psql is Debian's pg_wrapper, a PATH that skips it.
func Environ(dsn string) ([]string, error) {
	u, err := url.Parse(dsn)
	if err != nil || dsn == "" {
		return nil, fmt.Errorf("no connection string for the attempt")
	}
	pw, _ := u.User.Password()
	environ := append(os.Environ(),
		"PGHOST="+u.Hostname(), "PGPORT="+u.Port(), "PGDATABASE="+strings.TrimPrefix(u.Path, "/"),
		"PGUSER="+u.User.Username(), "PGPASSWORD="+pw, "PGOPTIONS="+u.Query().Get("options"),
		"PGSSLMODE=disable", "PGGSSENCMODE=disable", "DATABASE_URL="+dsn, "IDEMCHECK_DSN="+dsn)
	if b := wrapperPATH(); b.dir != "" {
		environ = append(environ, "PATH="+b.dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return environ, nil
}

// Setup runs the statements of sqlFile, then command ("" for none of
// either), each command with at most timeout: what creates a program's
// tables in its sandbox.
func Setup(ctx context.Context, env *harness.Env, sqlFile, command string, timeout time.Duration) error {
	return setup(ctx, env, sqlFile, command, timeout)
}

// Start starts command as sh -c would, in environment environ, with no
// input and its output to out, in a process group of its own.
func Start(command string, environ []string, out io.Writer) (*faults.Process, error) {
	return startCommand(command, environ, "", out)
}

// NewTail keeps the last few KiB written to it; String gives the last
// 600 bytes, for an error message.
func NewTail() interface {
	io.Writer
	fmt.Stringer
} {
	return new(tailWriter)
}

// run runs command in its own process group with the attempt's
// environment, killed at a crash point or after timeout.
func run(ctx context.Context, env *harness.Env, command string, vars []string, stdin string, timeout time.Duration) error {
	environ, err := Environ(env.ConnString())
	if err != nil {
		return err
	}
	environ = append(environ, vars...)
	var stderr tailWriter
	started := make(chan struct{})
	var p *faults.Process
	env.OnCrash(func() {
		<-started
		if p != nil {
			p.Kill()
		}
	})
	p, err = startCommand(command, environ, stdin, &stderr)
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
		return faults.ErrKilled
	default:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			switch exit.ExitCode() {
			case 126:
				err = fmt.Errorf("%w (the command is not executable: chmod +x it, or name its interpreter)", err)
			case 127:
				err = fmt.Errorf("%w (the shell did not find the command: check the path, relative to the working directory)", err)
			}
		}
		if tail := stderr.String(); tail != "" {
			return fmt.Errorf("%w: %s", err, tail)
		}
		return err
	}
}

// SQL runs File against each batch: the batch is loaded into the temporary
// table batch (for the default orders: source text, id bigint, version
// bigint, event_date date, customer text, amount numeric), then File's
// statements run one by one in the simple query protocol, as psql -v
// ON_ERROR_STOP=1 -f runs them, so its BEGIN and COMMIT, or their absence,
// mean what they say. The first failing statement fails the attempt.
type SQL[R any] struct {
	File      string
	SetupFile string
	// SetupCommand runs after SetupFile, once per sandbox, as Exec's does.
	SetupCommand string
	Timeout      time.Duration // of SetupCommand; default 60s
	Records      string        // as in Exec
	stmts        []string
	setup        []string
	create       string // CREATE TEMP TABLE batch (...)
	load         func(ctx context.Context, conn *pgx.Conn, records []R) error
}

// LoadSQL reads the files and splits them into statements, for batches of
// the default orders (loaded with COPY).
func LoadSQL(file, setupFile string) (*SQL[harness.Order], error) {
	w := &SQL[harness.Order]{File: file, SetupFile: setupFile, create: createBatch(harness.OrderColumnsSQL),
		load: func(ctx context.Context, conn *pgx.Conn, records []harness.Order) error {
			_, err := conn.CopyFrom(ctx, pgx.Identifier{"batch"}, harness.OrderColumns, pgx.CopyFromRows(harness.OrderRows(records)))
			return err
		}}
	return w.read()
}

// LoadSQLRecords is LoadSQL for custom records: the batch table has the
// spec's columns, filled with json_populate_recordset from the records as
// JSON (so PostgreSQL parses every value, exactly).
func LoadSQLRecords(file, setupFile string, spec *recordspec.Spec) (*SQL[recordspec.Record], error) {
	w := &SQL[recordspec.Record]{File: file, SetupFile: setupFile, Records: spec.Source(), create: createBatch(spec.ColumnsSQL()),
		load: func(ctx context.Context, conn *pgx.Conn, records []recordspec.Record) error {
			if records == nil {
				records = []recordspec.Record{}
			}
			b, err := json.Marshal(records)
			if err != nil {
				return err
			}
			// One round (no prepare round): the statement runs once.
			_, err = conn.Exec(ctx, "INSERT INTO batch SELECT * FROM json_populate_recordset(NULL::batch, $1::json)",
				pgx.QueryExecModeExec, string(b))
			return err
		}}
	return w.read()
}

// createBatch is the statement creating the batch table with columns.
func createBatch(columns string) string {
	return "CREATE TEMP TABLE batch (" + strings.Join(strings.Fields(columns), " ") + ")"
}

// read reads the files' statements into w.
func (w *SQL[R]) read() (*SQL[R], error) {
	var err error
	if w.stmts, err = statements(w.File); err != nil {
		return nil, err
	}
	if len(w.stmts) == 0 {
		return nil, fmt.Errorf("%s holds no SQL statement", w.File)
	}
	if w.SetupFile != "" {
		if w.setup, err = statements(w.SetupFile); err != nil {
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
// ParseName reads back: sql "FILE" [setup-sql "FILE"] [records "SPEC"].
func (w *SQL[R]) Name() string {
	return Name{Kind: "sql", Main: w.File, SetupSQL: w.SetupFile, Setup: w.SetupCommand, Records: w.Records}.String()
}

// Setup runs the setup file's statements, then SetupCommand, if any.
func (w *SQL[R]) Setup(ctx context.Context, env *harness.Env) error {
	if err := runStatements(ctx, env.Conn, w.SetupFile, w.setup); err != nil {
		return err
	}
	if w.SetupCommand == "" {
		return nil
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	return run(ctx, env, w.SetupCommand, nil, "", timeout)
}

// Write loads the batch and runs the file.
func (w *SQL[R]) Write(ctx context.Context, env *harness.Env, b harness.Batch[R]) error {
	if err := env.Conn.PgConn().Exec(ctx, w.create).Close(); err != nil {
		return fmt.Errorf("create the batch table: %w", err)
	}
	if err := w.load(ctx, env.Conn, b.Records); err != nil {
		return fmt.Errorf("load the batch: %w", err)
	}
	return runStatements(ctx, env.Conn, w.File, w.stmts)
}

func runStatements(ctx context.Context, conn *pgx.Conn, file string, stmts []string) error {
	for i, st := range stmts {
		if _, err := conn.PgConn().Exec(ctx, st).ReadAll(); err != nil {
			return fmt.Errorf("%s, statement %d (%s): %w", file, i+1, sqlsplit.Abbreviate(st, 60), err)
		}
	}
	return nil
}
