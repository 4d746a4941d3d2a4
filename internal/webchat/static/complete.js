// Tab completion in the composer: nicks of the room shown ("nick: " at
// the start of the line, "nick " elsewhere), commands ("/join ") at the
// start, and joined rooms ("#dev "). Pure functions: composer.js applies
// the result.

import { fold } from "./state.js";

// COMMANDS are the commands of docs/protocol.md a user may type.
const COMMANDS = [
  "allowlist", "away", "back", "ban", "bans", "deop", "help", "join", "kick", "logout-all", "me",
  "mode", "motd", "msg", "mute", "names", "nick", "op", "part", "quit", "register", "reply",
  "rmroom", "rooms", "sessions", "topic", "unban", "unmute", "unregister", "weblogin", "who", "whois"
];

function startsWith(s, prefix) { return fold(s).slice(0, prefix.length) === fold(prefix); }

// completeAt returns how to complete the word ending at caret in value:
// { start, after, choices } where choices replace value[start:caret] and
// after is the text kept after the caret; null when nothing matches.
export function completeAt(value, caret, members, rooms) {
  const before = value.slice(0, caret);
  const start = before.search(/\S*$/);
  const word = before.slice(start);
  if (!word) return null;
  const after = value.slice(caret);
  const spaced = /^\s/.test(after);
  let choices;
  if (word[0] === "/" && start === 0) {
    choices = COMMANDS.filter(function (c) { return startsWith(c, word.slice(1)); })
      .map(function (c) { return "/" + c + (spaced ? "" : " "); });
  } else if (word[0] === "#") {
    choices = rooms.filter(function (r) { return startsWith(r, word.slice(1)); })
      .map(function (r) { return "#" + r + (spaced ? "" : " "); });
  } else {
    const lineStart = start === 0 || value[start - 1] === "\n";
    const bare = word.replace(/^@/, "");
    const at = word.length - bare.length ? "@" : "";
    choices = members.map(function (m) { return m.nick; })
      .filter(function (n) { return startsWith(n, bare); })
      .map(function (n) { return at + n + (lineStart && !at ? ":" : "") + (spaced ? "" : " "); });
  }
  if (!choices.length) return null;
  return { start: start, after: after, choices: choices };
}
