package room

import (
	"fmt"
	"slices"
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
		{name: "set", params: []param{optional(oneWord("NAME")), optional(oneWord("VALUE"))}, help: "list your settings, or change one (/set quiet on)",
			long: "Settings: " + strings.Join(SettingNames(), ", ") + ". /set alone lists them with their values; /set NAME shows one. " +
				"offline-messages on|off: whether private messages to your registered nick are kept for you while you are offline. " +
				"With a key they are kept for it and apply at once to every device connected with it. The ignore list has /ignore and /unignore.",
			run: func(c *call) error {
				if c.arg(0) == "" {
					c.hub.notice(c.session, settingsList(c.session.Preferences()))
					return nil
				}
				return c.hub.set(c.session, c.room, c.arg(0), c.arg(1))
			}},
		{name: "mentions", needsKey: true, help: "list the mentions of you while you were away", long: fmt.Sprintf("The messages naming one of your registered nicks in your rooms while you were offline, the last %d, kept as long as offline messages.", MaxMentionsKept), run: func(c *call) error {
			return c.hub.mentions(c.session)
		}},
	}
}

// SettingNames are the settings /set knows, in the order it lists them.
func SettingNames() []string {
	return []string{"bell", "offline-messages", "quiet", "theme", "timestamp", "tz"}
}

// SettingValue is one setting as /set shows it.
type SettingValue struct {
	Name, Value string
	// Values is what it may be set to, as /set's list shows it.
	Values string
}

// Values are the settings /set knows, with their values (defaults made
// explicit), in SettingNames order.
func (p *Preferences) Values() []SettingValue {
	quiet := "off"
	if p.Quiet {
		quiet = "on"
	}
	return []SettingValue{
		{"bell", p.BellMode(), strings.Join([]string{BellOn, BellOff, BellMentions}, "|")},
		{"offline-messages", p.OfflineMode(), OfflineMessagesOn + "|" + OfflineMessagesOff},
		{"quiet", quiet, "on|off"},
		{"theme", p.ThemeName(), strings.Join(Themes(), "|")},
		{"timestamp", p.TimestampMode(), strings.Join([]string{TimestampOff, TimestampTime, TimestampDateTime}, "|")},
		{"tz", p.ZoneName(), "Area/City"},
	}
}

// settingsList is /set's answer: every setting and its value.
func settingsList(p *Preferences) string {
	var b strings.Builder
	b.WriteString("Your settings (/set NAME VALUE changes one):")
	for _, v := range p.Values() {
		fmt.Fprintf(&b, "\n  %-17s %-10s (%s)", v.Name, v.Value, v.Values)
	}
	fmt.Fprintf(&b, "\n  %-17s %-10s (/ignore NICK, /unignore NICK)", "ignore", plural(len(p.Ignored), "person", "people"))
	return b.String()
}

// set is /set NAME [VALUE]. The settings that have a command of their own
// are changed by it, so that both say and check the same.
func (h *Hub) set(s *Session, target *Room, name, value string) error {
	name = strings.ToLower(name)
	if name == "ignore" || name == "unignore" {
		return userErr("usage", "the ignore list is a list: /ignore NICK adds someone, /unignore NICK takes them off, /ignore lists it")
	}
	var current SettingValue
	for _, v := range s.Preferences().Values() {
		if v.Name == name {
			current = v
		}
	}
	if current.Name == "" {
		return userErr("unknown_setting", fmt.Sprintf("unknown setting %q: the settings are %s", truncateRunes(name, 32), strings.Join(SettingNames(), ", ")))
	}
	if value == "" {
		h.notice(s, fmt.Sprintf("%s: %s (%s). /set %s VALUE changes it.", current.Name, current.Value, current.Values, current.Name))
		return nil
	}
	if name != "tz" && !slices.Contains(strings.Split(current.Values, "|"), value) {
		return userErr("usage", "usage: /set "+name+" "+current.Values)
	}
	if name != "offline-messages" {
		h.runCommand(s, target, name, value)
		return nil
	}
	if _, err := h.changeSettings(s, func(st *Settings) error {
		st.OfflineMessages = value
		if value == OfflineMessagesOn {
			st.OfflineMessages = ""
		}
		return nil
	}); err != nil {
		return err
	}
	text := "Offline messages: on. Private messages to your registered nicks while you are offline are kept for you, up to " + fmt.Sprint(h.maxWaiting) + ", and given to you when you connect."
	if value == OfflineMessagesOff {
		text = "Offline messages: off. Whoever sends you a private message while you are offline is told you do not take them."
	}
	if !s.keyRemembers() {
		text += " This applies once you register a nick (/register)."
	}
	h.notice(s, text)
	return nil
}

// SetRequest is /set NAME VALUE for a front-end (the web page's set
// frame), reporting errors to the user.
func (h *Hub) SetRequest(s *Session, name, value string) {
	if !h.allowInput(s) {
		return
	}
	if name == "" || strings.ContainsAny(name+value, " \n") {
		h.fail(s, userErr("usage", "a set frame names one setting and one value"))
		return
	}
	target, _ := h.targetRoom(s, "")
	if err := h.set(s, target, name, value); err != nil {
		h.fail(s, err)
	}
}

// settingsEvent tells a session's user's settings. The defaults' event is
// one for every session that has them (most guests): rendered once.
func (h *Hub) settingsEvent(p *Preferences) *Event {
	if p == h.defaultPrefs {
		return h.defaultSettings
	}
	return &Event{Kind: KindSettings, Prefs: p, Time: h.now()}
}

// quoteZone is a zone name a user typed, cut short for an error.
func quoteZone(zone string) string {
	return fmt.Sprintf("%q", truncateRunes(zone, maxZoneName))
}
