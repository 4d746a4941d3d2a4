package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
)

// ErrTooMany is AddBotToken's refusal of a token beyond the key's limit.
var ErrTooMany = errors.New("too many")

// AddBotToken stores a bot token; ErrExists if the key has one of that
// name (or, unlikely, the hash is stored already), ErrTooMany if it has
// limit tokens already. The count and the insert are one transaction,
// which the dialect's key lock serialises per key.
func (s *sqlStore) AddBotToken(ctx context.Context, t BotToken, limit int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.dialect.keyLock != "" {
		if _, err := tx.ExecContext(ctx, s.q(s.dialect.keyLock), t.Fingerprint); err != nil {
			return err
		}
	}
	if limit > 0 {
		var have int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM bot_tokens WHERE fingerprint = ?`), t.Fingerprint).Scan(&have); err != nil {
			return err
		}
		if have >= limit {
			return ErrTooMany
		}
	}
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO bot_tokens(token_hash, fingerprint, name, nick, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		t.TokenHash, t.Fingerprint, t.Name, t.Nick, ms(t.CreatedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrExists
	}
	return tx.Commit()
}

const botTokenColumns = `token_hash, fingerprint, name, nick, created_at`

func scanBotToken(row interface{ Scan(...any) error }) (BotToken, error) {
	var t BotToken
	var created int64
	err := row.Scan(&t.TokenHash, &t.Fingerprint, &t.Name, &t.Nick, &created)
	t.CreatedAt = fromMS(created)
	return t, err
}

// BotTokenByHash returns a bot token by its hash.
func (s *sqlStore) BotTokenByHash(ctx context.Context, tokenHash string) (BotToken, error) {
	t, err := scanBotToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+botTokenColumns+` FROM bot_tokens WHERE token_hash = ?`), tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return BotToken{}, ErrNotFound
	}
	return t, err
}

// BotTokens lists a key's bot tokens, or every key's for "".
func (s *sqlStore) BotTokens(ctx context.Context, fingerprint string) ([]BotToken, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+botTokenColumns+` FROM bot_tokens WHERE fingerprint = ? OR ? = '' ORDER BY fingerprint, name`), fingerprint, fingerprint)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BotToken
	for rows.Next() {
		t, err := scanBotToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteBotToken deletes the key's token of that name and returns it.
func (s *sqlStore) DeleteBotToken(ctx context.Context, fingerprint, name string) (BotToken, error) {
	t, err := scanBotToken(s.db.QueryRowContext(ctx, s.q(`DELETE FROM bot_tokens WHERE fingerprint = ? AND name = ? RETURNING `+botTokenColumns), fingerprint, name))
	if errors.Is(err, sql.ErrNoRows) {
		return BotToken{}, ErrNotFound
	}
	return t, err
}

// AddBotToken implements TokenStore.
func (s *Memory) AddBotToken(ctx context.Context, t BotToken, limit int) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.botTokens, func(o BotToken) bool {
		return o.TokenHash == t.TokenHash || o.Fingerprint == t.Fingerprint && o.Name == t.Name
	}) {
		return ErrExists
	}
	have := 0
	for _, o := range s.botTokens {
		if o.Fingerprint == t.Fingerprint {
			have++
		}
	}
	if limit > 0 && have >= limit {
		return ErrTooMany
	}
	t.CreatedAt = fromMS(ms(t.CreatedAt))
	s.botTokens = append(s.botTokens, t)
	return nil
}

// BotTokenByHash implements TokenStore.
func (s *Memory) BotTokenByHash(ctx context.Context, tokenHash string) (BotToken, error) {
	if err := s.lock(ctx); err != nil {
		return BotToken{}, err
	}
	defer s.mu.Unlock()
	for _, t := range s.botTokens {
		if t.TokenHash == tokenHash {
			return t, nil
		}
	}
	return BotToken{}, ErrNotFound
}

// BotTokens implements TokenStore.
func (s *Memory) BotTokens(ctx context.Context, fingerprint string) ([]BotToken, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []BotToken
	for _, t := range s.botTokens {
		if fingerprint == "" || t.Fingerprint == fingerprint {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b BotToken) int {
		if c := strings.Compare(a.Fingerprint, b.Fingerprint); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// DeleteBotToken implements TokenStore.
func (s *Memory) DeleteBotToken(ctx context.Context, fingerprint, name string) (BotToken, error) {
	if err := s.lock(ctx); err != nil {
		return BotToken{}, err
	}
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.botTokens, func(t BotToken) bool { return t.Fingerprint == fingerprint && t.Name == name })
	if i < 0 {
		return BotToken{}, ErrNotFound
	}
	t := s.botTokens[i]
	s.botTokens = slices.Delete(s.botTokens, i, i+1)
	return t, nil
}
