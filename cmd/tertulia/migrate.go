package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tertulia/tertulia/internal/store"
)

// runMigrate is `tertulia migrate --from data/tertulia.db --to postgres://…`:
// it copies a single-node server's database into an empty PostgreSQL one
// and prints the verified row counts. Stop the server first.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tertulia migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "data/tertulia.db", "the SQLite database to copy (its file, or the data folder holding it)")
	to := fs.String("to", "", "the PostgreSQL database to copy into (postgres://…); it must be empty")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tertulia migrate --from data/tertulia.db --to postgres://user@host/db\n\nCopies rooms, history, registrations, bans, settings and web sessions into an empty PostgreSQL database, keeping IDs, and verifies the counts. Stop the server first.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected argument %q", fs.Arg(0))
	}
	if !store.IsPostgresURL(*to) {
		return errors.New("migrate: --to must be a PostgreSQL URL (postgres://…)")
	}
	src, err := store.OpenSQLiteFile(ctx, *from)
	if err != nil {
		return fmt.Errorf("migrate: --from: %w", err)
	}
	defer src.Close()
	dst, err := store.OpenPostgres(ctx, *to)
	if err != nil {
		return fmt.Errorf("migrate: --to: %w", err)
	}
	defer dst.Close()
	counts, err := store.CopyToPostgres(ctx, src, dst)
	if err != nil {
		return fmt.Errorf("migrate: %w (the destination is unchanged)", err)
	}
	for _, c := range counts {
		fmt.Fprintf(stdout, "%-18s %d rows\n", c.Table, c.Rows)
	}
	fmt.Fprintln(stdout, "copied and verified: every table has as many rows in PostgreSQL as in SQLite")
	return nil
}
