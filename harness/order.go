package harness

import (
	"encoding/json"
	"fmt"
	"time"
)

// Order is the default record: one event of an orders feed. ID is the
// natural key; Version grows with each change of an order, and one
// (ID, Version) always carries the same content; EventDate is the
// partition. Its JSON form is the line external writers read:
//
//	{"source":"shop","id":17,"version":3,"event_date":"2026-11-01","customer":"c-3","amount":"12.50"}
type Order struct {
	Source    string `json:"source"`
	ID        int64  `json:"id"`
	Version   int64  `json:"version"`
	EventDate Date   `json:"event_date"`
	Customer  string `json:"customer"`
	// Amount is an exact decimal, e.g. "12.50"; stored as numeric.
	Amount string `json:"amount"`
}

// DedupKey is the record's deduplication key, source:id:version: natural,
// so a retry computes the same key (never an autoincrement).
func (o Order) DedupKey() string { return fmt.Sprintf("%s:%d:%d", o.Source, o.ID, o.Version) }

// Date is a calendar date that travels as "2006-01-02" in JSON and as a
// PostgreSQL date.
type Date struct{ time.Time }

// NewDate returns the date y-m-d.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q is not YYYY-MM-DD: %w", s, err)
	}
	return Date{t}, nil
}

func (d Date) String() string { return d.Format(time.DateOnly) }

// MarshalJSON writes "2006-01-02".
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "2006-01-02".
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := ParseDate(s)
	*d = p
	return err
}

// OrderColumns are an Order's columns in a table, in row order.
var OrderColumns = []string{"source", "id", "version", "event_date", "customer", "amount"}

// OrderColumnsSQL defines OrderColumns for CREATE TABLE.
const OrderColumnsSQL = `source text NOT NULL, id bigint NOT NULL, version bigint NOT NULL,
	event_date date NOT NULL, customer text NOT NULL, amount numeric NOT NULL`

// OrderRows turns orders into rows of OrderColumns, for pgx.CopyFromRows.
func OrderRows(orders []Order) [][]any {
	rows := make([][]any, len(orders))
	for i, o := range orders {
		rows[i] = []any{o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount}
	}
	return rows
}
