package room

import (
	"fmt"
	"strings"
)

// settingsCommands are the commands of a user's personal settings, kept
// per key (settings.go).
func settingsCommands() []*command {
	return []*command{
		{name: "ignore", params: []param{optional(oneWord("NICK"))}, help: "hide someone's messages from you; alone: list whom you ignore", run: func(c *call) error {
			if c.arg(0) == "" {
				c.hub.ignoreList(c.session)
				return nil
			}
			return c.hub.ignore(c.session, c.arg(0))
		}},
		{name: "unignore", params: []param{oneWord("NICK")}, help: "see someone's messages again", run: func(c *call) error {
			return c.hub.unignore(c.session, c.arg(0))
		}},
		{name: "quiet", params: []param{optional(literal("on", "off"))}, help: "hide or show others' joins, parts and nick changes", run: func(c *call) error {
			p, err := c.hub.changeSettings(c.session, func(st *Settings) error {
				switch c.arg(0) {
				case "on":
					st.Quiet = true
				case "off":
					st.Quiet = false
				default:
					st.Quiet = !st.Quiet
				}
				return nil
			})
			if err != nil {
				return err
			}
			if p.Quiet {
				c.hub.notice(c.session, "Quiet: others' joins, parts and nick changes are hidden. /quiet shows them again.")
			} else {
				c.hub.notice(c.session, "Quiet is off: others' joins, parts and nick changes are shown.")
			}
			return nil
		}},
		{name: "tz", params: []param{optional(oneWord("AREA/CITY"))}, help: "show or set your time zone (e.g. Europe/Madrid, UTC)", run: func(c *call) error {
			zone := c.arg(0)
			if zone == "" {
				p := c.session.Preferences()
				c.hub.notice(c.session, fmt.Sprintf("Your time zone is %s (now %s). /tz Area/City changes it.", p.ZoneName(), c.session.FormatTime(c.hub.now())))
				return nil
			}
			loc, err := loadZone(zone)
			if err != nil {
				return userErr("bad_timezone", "unknown time zone "+quoteZone(zone)+": use an IANA name such as Europe/Madrid, America/New_York or UTC")
			}
			if _, err := c.hub.changeSettings(c.session, func(st *Settings) error {
				st.TimeZone = loc.String()
				if strings.EqualFold(st.TimeZone, "UTC") {
					st.TimeZone = ""
				}
				return nil
			}); err != nil {
				return err
			}
			c.hub.notice(c.session, fmt.Sprintf("Your time zone is now %s (now %s).", loc.String(), c.session.FormatTime(c.hub.now())))
			return nil
		}},
		{name: "timestamp", params: []param{literal(TimestampOff, TimestampTime, TimestampDateTime)}, help: "how times are shown before lines", run: func(c *call) error {
			mode := c.arg(0)
			if _, err := c.hub.changeSettings(c.session, func(st *Settings) error {
				st.Timestamp = mode
				return nil
			}); err != nil {
				return err
			}
			c.hub.notice(c.session, "Timestamps: "+mode+".")
			return nil
		}},
		{name: "theme", params: []param{literal(Themes()...)}, help: "the terminal's colours (mono: none)", run: func(c *call) error {
			theme := c.arg(0)
			if _, err := c.hub.changeSettings(c.session, func(st *Settings) error {
				st.Theme = theme
				return nil
			}); err != nil {
				return err
			}
			c.hub.notice(c.session, "Theme: "+theme+".")
			return nil
		}},
		{name: "bell", params: []param{literal(BellOn, BellOff, BellMentions)}, help: "ring on every message, never, or on mentions and private messages", run: func(c *call) error {
			bell := c.arg(0)
			if _, err := c.hub.changeSettings(c.session, func(st *Settings) error {
				st.Bell = bell
				return nil
			}); err != nil {
				return err
			}
			switch bell {
			case BellOn:
				c.hub.notice(c.session, "Bell: on, for every message.")
			case BellOff:
				c.hub.notice(c.session, "Bell: off.")
			default:
				c.hub.notice(c.session, "Bell: on mentions and private messages.")
			}
			return nil
		}},
	}
}

// quoteZone is a zone name a user typed, cut short for an error.
func quoteZone(zone string) string {
	return fmt.Sprintf("%q", truncateRunes(zone, maxZoneName))
}
