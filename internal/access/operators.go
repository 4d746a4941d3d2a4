package access

import "context"

// IsOperator tells whether key is an operator: an admin, or granted.
func (b *Book) IsOperator(key string) bool {
	if key == "" {
		return false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.admins[key] || b.ops[key]
}

// IsAdmin tells whether key is an operator from Config.Admins.
func (b *Book) IsAdmin(key string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.admins[key]
}

// Grant makes key an operator, granted by the nick by.
func (b *Book) Grant(key, by string) error { return b.setOperator(key, by, true) }

// Revoke ends key's granted operator status. Errors: ErrAdmin for an
// admin, *store.Failure.
func (b *Book) Revoke(key, by string) error {
	if b.IsAdmin(key) {
		return ErrAdmin
	}
	return b.setOperator(key, by, false)
}

func (b *Book) setOperator(key, by string, on bool) error {
	if key == "" {
		return ErrNoKey
	}
	if err := b.do("operator", "could not change operator status", func(ctx context.Context) error {
		return b.st.SetOperator(ctx, key, by, on, b.now())
	}, "key", key); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.modChanges++
	if on {
		b.ops[key] = true
	} else {
		delete(b.ops, key)
	}
	return nil
}
