package sshchat

import (
	"errors"
	"fmt"
	"time"
)

// Config is the SSH front-end's limits and timers, one field per
// command-line flag. Start from DefaultConfig: a zero field is never read
// as "the default".
type Config struct {
	// HandshakeTimeout bounds the SSH handshake and authentication (more
	// than 0: a scanner must not hold a connection open for ever).
	HandshakeTimeout time.Duration
	// SessionTimeout bounds the time from the handshake (or a new session
	// channel) to the shell or exec request (more than 0).
	SessionTimeout time.Duration
	// Keepalive is the keepalive interval; 0: off.
	Keepalive time.Duration
	// MaxLine is the longest line-mode input line, in bytes (at least 1).
	MaxLine int
	// MaxChannels caps the session channels one connection may have open
	// at once (at least 1).
	MaxChannels int
	// ProxyProtocol: read PROXY protocol headers from the trusted proxies
	// (the app passes --trusted-proxies, see WithProxyProtocol).
	ProxyProtocol bool
}

// DefaultConfig is the SSH front-end's settings as documented for the
// flags.
func DefaultConfig() Config {
	return Config{
		HandshakeTimeout: DefaultHandshakeTimeout,
		SessionTimeout:   DefaultSessionTimeout,
		Keepalive:        DefaultKeepalive,
		MaxLine:          DefaultMaxLine,
		MaxChannels:      DefaultMaxChannels,
	}
}

// Validate reports every setting that has no meaning.
func (c Config) Validate() error {
	var errs []error
	if c.HandshakeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ssh handshake timeout %s: must be more than 0", c.HandshakeTimeout))
	}
	if c.SessionTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ssh session timeout %s: must be more than 0", c.SessionTimeout))
	}
	if c.Keepalive < 0 {
		errs = append(errs, fmt.Errorf("ssh keepalive %s: must be 0 (off) or more", c.Keepalive))
	}
	if c.MaxLine < 1 {
		errs = append(errs, fmt.Errorf("ssh max line %d: must be at least 1", c.MaxLine))
	}
	if c.MaxChannels < 1 {
		errs = append(errs, fmt.Errorf("ssh max channels %d: must be at least 1", c.MaxChannels))
	}
	return errors.Join(errs...)
}

// Options turns the Config into server options.
func (c Config) Options() []Option {
	return []Option{
		WithHandshakeTimeout(c.HandshakeTimeout),
		WithSessionTimeout(c.SessionTimeout),
		WithKeepalive(c.Keepalive),
		WithMaxLine(c.MaxLine),
		WithMaxChannels(c.MaxChannels),
	}
}
