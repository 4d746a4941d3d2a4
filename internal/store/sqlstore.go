package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sqlStore is what the SQL stores share: every query but the message
// append path is written once, in SQLite's spelling, with ? placeholders
// and RETURNING for new IDs, and run by SQLite and PostgreSQL alike.
type sqlStore struct {
	db      *sql.DB
	health  *writeHealth
	dialect *dialect
}

// dialect is what differs between the SQL engines.
type dialect struct {
	// migrations bring an empty database to the current schema, one
	// version each; the same version means the same schema in every
	// dialect.
	migrations []string
	// migrationLock, if set, runs first in the migration transaction, so
	// that nodes starting together on one database migrate it once.
	migrationLock string
	// keyLock, if set, runs first in a transaction that counts a key's
	// rows before it adds one (its one argument is the key), so that
	// concurrent transactions on several connections count one after the
	// other. SQLite needs none: its one connection runs one transaction
	// at a time.
	keyLock string
	// numbered placeholders ($1, $2...) instead of ?.
	numbered bool
	rebound  sync.Map // query → its numbered form
}

var sqliteDialect = &dialect{migrations: sqliteMigrations}

// q returns query in the dialect's spelling.
func (s *sqlStore) q(query string) string {
	d := s.dialect
	if !d.numbered {
		return query
	}
	if v, ok := d.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	v, _ := d.rebound.LoadOrStore(query, b.String())
	return v.(string)
}

// migrate applies the dialect's migrations the database has not had yet,
// in one transaction.
func (s *sqlStore) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.dialect.migrationLock != "" {
		if _, err := tx.ExecContext(ctx, s.dialect.migrationLock); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return err
	}
	all := s.dialect.migrations
	if current > len(all) {
		return fmt.Errorf("the database is at schema version %d, newer than this program's %d: run a newer tertulia", current, len(all))
	}
	for v := current + 1; v <= len(all); v++ {
		if _, err := tx.ExecContext(ctx, all[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)`), v, time.Now().Unix()); err != nil {
			return err
		}
	}
	return tx.Commit()
}
