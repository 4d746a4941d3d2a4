package webchat

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is the web front-end's limits, timers and trust, one field per
// command-line flag. Start from DefaultConfig: a zero field is never read
// as "the default".
type Config struct {
	// ReadLimit is the largest frame a client may send, in bytes (at
	// least 1).
	ReadLimit int64
	// PingInterval is how often websockets are pinged; a peer silent for
	// two intervals is dropped (more than 0).
	PingInterval time.Duration
	// HelloTimeout is the time a websocket has to sign in (more than 0).
	HelloTimeout time.Duration
	// WriteTimeout bounds one write to a client (more than 0).
	WriteTimeout time.Duration
	// AllowedOrigins are origins allowed to open websockets besides the
	// page's own host.
	AllowedOrigins []string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Real-IP are believed; empty (or nil): none.
	TrustedProxies []netip.Prefix
}

// DefaultConfig is the web front-end's settings as documented for the
// flags: loopback is the one trusted proxy.
func DefaultConfig() Config {
	return Config{
		ReadLimit:      DefaultReadLimit,
		PingInterval:   DefaultPingInterval,
		HelloTimeout:   DefaultHelloTimeout,
		WriteTimeout:   DefaultWriteTimeout,
		TrustedProxies: DefaultTrustedProxies(),
	}
}

// Validate reports every setting that has no meaning.
func (c Config) Validate() error {
	var errs []error
	if c.ReadLimit < 1 {
		errs = append(errs, fmt.Errorf("ws read limit %d: must be at least 1", c.ReadLimit))
	}
	if c.PingInterval <= 0 {
		errs = append(errs, fmt.Errorf("ws ping interval %s: must be more than 0", c.PingInterval))
	}
	if c.HelloTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ws hello timeout %s: must be more than 0", c.HelloTimeout))
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ws write timeout %s: must be more than 0", c.WriteTimeout))
	}
	return errors.Join(errs...)
}

// Options turns the Config into server options.
func (c Config) Options() []Option {
	proxies := c.TrustedProxies
	if proxies == nil {
		proxies = []netip.Prefix{} // WithTrustedProxies reads nil as loopback
	}
	return []Option{
		WithReadLimit(c.ReadLimit),
		WithPingInterval(c.PingInterval),
		WithHelloTimeout(c.HelloTimeout),
		WithWriteTimeout(c.WriteTimeout),
		WithAllowedOrigins(c.AllowedOrigins...),
		WithTrustedProxies(proxies),
	}
}
