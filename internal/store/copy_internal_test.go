package store

import (
	"context"
	"slices"
	"testing"
)

// Every table and column of the SQLite schema is copied by tertulia
// migrate: a migration that adds one must add it to copiedTables too.
func TestCopiedTablesCoverTheSchema(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	copied := map[string]copiedTable{}
	for _, c := range copiedTables {
		copied[c.name] = c
	}
	for _, name := range tables {
		c, ok := copied[name]
		if !ok {
			t.Errorf("table %s is not copied by tertulia migrate", name)
			continue
		}
		cols, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, name)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			var col string
			if err := cols.Scan(&col); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(c.columns, col) {
				t.Errorf("column %s.%s is not copied", name, col)
			}
		}
		cols.Close()
		delete(copied, name)
	}
	for name := range copied {
		t.Errorf("copiedTables names %s, which the schema does not have", name)
	}
}

// Each schema version exists in both dialects.
func TestDialectsHaveTheSameVersions(t *testing.T) {
	if len(sqliteMigrations) != len(postgresMigrations) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(sqliteMigrations), len(postgresMigrations))
	}
}
