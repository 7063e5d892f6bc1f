package properties_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx" driver
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// The Go recipes of the README: correct writers built on database/sql and
// on GORM, each reaching its sandbox on its own (harness.ConnectsItself)
// through env.ConnString, the fault proxy's address with the sandbox's
// search_path in its options parameter.

// ordersTable is the recipes' table.
const ordersTable = `CREATE TABLE orders (source text NOT NULL, id bigint PRIMARY KEY, version bigint NOT NULL,
	event_date date NOT NULL, customer text NOT NULL, amount numeric NOT NULL)`

// guardedUpsert writes a record unless the table has a newer version of
// its key (the same key and version always carry the same content).
const guardedUpsert = `INSERT INTO orders AS t (source, id, version, event_date, customer, amount) VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version, event_date = EXCLUDED.event_date,
	customer = EXCLUDED.customer, amount = EXCLUDED.amount WHERE t.version < EXCLUDED.version`

// recipe is what the recipes share: they open their own connections,
// and their Setup creates the orders table.
type recipe struct{}

func (recipe) ConnectsItself() {}

func (recipe) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, ordersTable)
	return err
}

// sqlUpsert is the database/sql recipe: every record's guarded upsert in
// one transaction.
type sqlUpsert struct{ recipe }

func (sqlUpsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	db, err := sql.Open("pgx", env.ConnString())
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // after Commit, a no-op
	for _, o := range b.Records {
		if _, err := tx.ExecContext(ctx, guardedUpsert, o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// gormOrder is an order as GORM maps it.
type gormOrder struct {
	Source    string
	ID        int64 `gorm:"primaryKey"`
	Version   int64
	EventDate string `gorm:"type:date"`
	Customer  string
	Amount    string `gorm:"type:numeric"`
}

func (gormOrder) TableName() string { return "orders" }

// gormUpsert is the GORM recipe: every record created with an ON CONFLICT
// clause that updates only an older version, in one transaction.
type gormUpsert struct{ recipe }

func (gormUpsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	db, err := gorm.Open(postgres.Open(env.ConnString()), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	guard := clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"source", "version", "event_date", "customer", "amount"}),
		Where:     clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: `"orders"."version" < EXCLUDED.version`}}},
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, o := range b.Records {
			row := gormOrder{Source: o.Source, ID: o.ID, Version: o.Version, EventDate: o.EventDate.String(), Customer: o.Customer, Amount: o.Amount}
			if err := tx.Clauses(guard).Create(&row).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// TestRecipesHold certifies the Go recipes: every law holds.
func TestRecipesHold(t *testing.T) {
	for name, w := range map[string]func() W{
		"database-sql": func() W { return sqlUpsert{} },
		"gorm":         func() W { return gormUpsert{} },
	} {
		t.Run(name, func(t *testing.T) { properties.Certify(t, w, opts()...) })
	}
}
