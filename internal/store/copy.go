package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// copiedTable is one table tertulia migrate copies, with its columns in
// both schemas' names; bools are 0/1 integers in SQLite.
type copiedTable struct {
	name     string
	columns  []string
	bools    map[string]bool
	identity bool // an id column numbered by the database
}

// copiedTables is every table of the schema, parents before children (a
// message names its room). TestCopiedTablesCoverTheSchema keeps it whole.
var copiedTables = []copiedTable{
	{name: "rooms", columns: []string{"name", "topic", "topic_by", "topic_at", "created_at", "topic_locked"}, bools: map[string]bool{"topic_locked": true}},
	{name: "messages", columns: []string{"id", "room", "kind", "sender", "text", "ts"}, identity: true},
	{name: "private_messages", columns: []string{"id", "sender", "recipient", "text", "ts"}, identity: true},
	{name: "registrations", columns: []string{"fold", "nick", "fingerprint", "created_at"}},
	{name: "operators", columns: []string{"fingerprint", "granted_by", "created_at"}},
	{name: "bans", columns: []string{"id", "kind", "value", "reason", "by_nick", "created_at", "expires_at"}, identity: true},
	{name: "mutes", columns: []string{"target", "by_nick", "expires_at"}},
	{name: "settings", columns: []string{"key", "value"}},
	{name: "login_codes", columns: []string{"code_hash", "fingerprint", "expires_at"}},
	{name: "web_sessions", columns: []string{"token_hash", "fingerprint", "created_at", "expires_at"}},
	{name: "key_settings", columns: []string{"fingerprint", "document", "updated_at"}},
	{name: "key_rooms", columns: []string{"fingerprint", "position", "room"}},
	{name: "key_input_history", columns: []string{"id", "fingerprint", "line"}, identity: true},
	{name: "waiting_messages", columns: []string{"id", "fingerprint", "sender", "sender_key", "recipient", "text", "ts", "private_id"}, identity: true},
	{name: "key_mentions", columns: []string{"id", "fingerprint", "room", "message_id", "sender", "text", "ts"}, identity: true},
	{name: "key_seen", columns: []string{"fingerprint", "seen_at"}},
	{name: "read_markers", columns: []string{"fingerprint", "target", "last_id"}},
	{name: "bot_tokens", columns: []string{"token_hash", "fingerprint", "name", "nick", "created_at"}},
}

// CopyCount is how many rows of one table were copied (and found there
// afterwards).
type CopyCount struct {
	Table string
	Rows  int64
}

// OpenSQLiteFile opens an existing database file (data/tertulia.db, or
// the data folder holding it) for tertulia migrate; unlike OpenSQLite it
// never creates one.
func OpenSQLiteFile(ctx context.Context, path string) (*SQLite, error) {
	dir := path
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		if filepath.Base(path) != dbFile {
			return nil, fmt.Errorf("%s: the database file is named %s", path, dbFile)
		}
		dir = filepath.Dir(path)
	} else if _, err := os.Stat(filepath.Join(dir, dbFile)); err != nil {
		return nil, err
	}
	return OpenSQLite(ctx, dir)
}

// CopyToPostgres copies everything in src into dst, which must be empty,
// in one transaction, keeping IDs; then it checks that each table has as
// many rows in dst as in src. On error dst is left as it was.
func CopyToPostgres(ctx context.Context, src *SQLite, dst *Postgres) ([]CopyCount, error) {
	read, err := src.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer read.Rollback()
	conn, err := dst.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var counts []CopyCount
	err = conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		for _, t := range copiedTables {
			var n int64
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t.name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("the destination already has %d rows in %s: migrate into an empty database", n, t.name)
			}
		}
		for _, t := range copiedTables {
			c, err := copyTable(ctx, read, tx, t)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			counts = append(counts, c)
		}
		return tx.Commit(ctx)
	})
	return counts, err
}

// copyTable streams one table from SQLite into PostgreSQL with COPY and
// checks the counts.
func copyTable(ctx context.Context, read *sql.Tx, tx pgx.Tx, t copiedTable) (CopyCount, error) {
	var want int64
	if err := read.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&want); err != nil {
		return CopyCount{}, err
	}
	cols := ""
	for i, c := range t.columns {
		if i > 0 {
			cols += ", "
		}
		cols += c
	}
	rows, err := read.QueryContext(ctx, "SELECT "+cols+" FROM "+t.name+" ORDER BY rowid")
	if err != nil {
		return CopyCount{}, err
	}
	defer rows.Close()
	values := make([]any, len(t.columns))
	ptrs := make([]any, len(t.columns))
	for i := range values {
		ptrs[i] = &values[i]
	}
	source := pgx.CopyFromFunc(func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, c := range t.columns {
			if t.bools[c] {
				v, ok := values[i].(int64)
				if !ok {
					return nil, fmt.Errorf("column %s: %T, want 0 or 1", c, values[i])
				}
				values[i] = v != 0
			}
		}
		return values, nil
	})
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, source)
	if err != nil {
		return CopyCount{}, err
	}
	if t.identity {
		// Later rows are numbered after the copied ones.
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM %s`, t.name, t.name)); err != nil {
			return CopyCount{}, err
		}
	}
	var got int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t.name).Scan(&got); err != nil {
		return CopyCount{}, err
	}
	if copied != want || got != want {
		return CopyCount{}, fmt.Errorf("%d rows in the source, %d copied, %d in the destination", want, copied, got)
	}
	return CopyCount{Table: t.name, Rows: got}, nil
}
