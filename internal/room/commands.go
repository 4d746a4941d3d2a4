package room

import (
	"fmt"
	"sort"
	"strings"
)

// Call is one invocation of a command.
type Call struct {
	Hub     *Hub
	Session *Session
	Room    *Room // the room the command was typed in; nil if none
	Name    string
	Args    string
}

// Command is one entry of the command table, shared by every front-end.
type Command struct {
	Name   string
	Usage  string // arguments, e.g. "NEW"
	Help   string
	OpOnly bool
	Run    func(c *Call) error
}

type commandTable struct {
	byName map[string]*Command
	list   []*Command
}

func newCommandTable() *commandTable {
	t := &commandTable{byName: make(map[string]*Command)}
	for _, c := range builtinCommands() {
		t.byName[c.Name] = c
		t.list = append(t.list, c)
	}
	sort.Slice(t.list, func(i, j int) bool { return t.list[i].Name < t.list[j].Name })
	return t
}

func (h *Hub) runCommand(c *Call) {
	cmd, ok := h.commands.byName[c.Name]
	if !ok {
		h.fail(c.Session, userErr("unknown_command", fmt.Sprintf("unknown command /%s (try /help)", c.Name)))
		return
	}
	if err := cmd.Run(c); err != nil {
		h.fail(c.Session, err)
	}
}

func needRoom(c *Call) error {
	if c.Room == nil {
		return userErr("no_room", "you are not in a room")
	}
	return nil
}

func builtinCommands() []*Command {
	return []*Command{
		{Name: "help", Help: "list the commands", Run: func(c *Call) error {
			var b strings.Builder
			b.WriteString("Commands:")
			for _, cmd := range c.Hub.commands.list {
				if cmd.OpOnly {
					continue
				}
				usage := "/" + cmd.Name
				if cmd.Usage != "" {
					usage += " " + cmd.Usage
				}
				fmt.Fprintf(&b, "\n  %-16s %s", usage, cmd.Help)
			}
			b.WriteString("\nText starting with // is sent as a message beginning with /.")
			c.Hub.notice(c.Session, b.String())
			return nil
		}},
		{Name: "nick", Usage: "NEW", Help: "change your nick", Run: func(c *Call) error {
			if c.Args == "" {
				return userErr("usage", "usage: /nick NEW")
			}
			return c.Hub.changeNick(c.Session, c.Args)
		}},
		{Name: "me", Usage: "ACTION", Help: "say what you are doing", Run: func(c *Call) error {
			if err := needRoom(c); err != nil {
				return err
			}
			if c.Args == "" {
				return userErr("usage", "usage: /me ACTION")
			}
			c.Hub.say(c.Session, c.Room, c.Args, true)
			return nil
		}},
		{Name: "who", Help: "list the members of this room", Run: func(c *Call) error {
			if err := needRoom(c); err != nil {
				return err
			}
			c.Session.deliver(c.Room.membersEvent())
			return nil
		}},
		{Name: "quit", Usage: "[REASON]", Help: "leave the chat", Run: func(c *Call) error {
			c.Hub.notice(c.Session, "Goodbye.")
			c.Session.Close(ReasonQuit)
			return nil
		}},
	}
}
