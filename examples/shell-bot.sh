#!/bin/sh
# shell-bot.sh: a bot in a shell loop over the HTTP API (curl and jq): it
# reads a room's new messages every few seconds and answers "!uptime".
#
#   TERTULIA_URL=http://localhost:8080 TERTULIA_TOKEN=tt_... ./shell-bot.sh dev
#
# Each request spends one unit of the token's rate budget, as a line sent
# over SSH or a websocket frame does: keep the poll interval sensible.
set -eu
room=${1:-lobby}
every=${EVERY:-5}
: "${TERTULIA_URL:?set TERTULIA_URL, e.g. http://localhost:8080}"
: "${TERTULIA_TOKEN:?set TERTULIA_TOKEN to a bot token (/token new NAME NICK)}"
api="$TERTULIA_URL/api/rooms/$room/messages"
auth="Authorization: Bearer $TERTULIA_TOKEN"

get() { curl -sS --fail-with-body -H "$auth" "$api?after=$1&limit=200"; }
post() {
	jq -nc --arg text "$1" --arg cid "$2" '{text: $text, cid: $cid}' |
		curl -sS --fail-with-body -H "$auth" -H "Content-Type: application/json" --data-binary @- "$api" >/dev/null
}

# Start after the newest message: answer only what comes from now on.
last=0
while :; do
	page=$(get "$last")
	last=$(printf '%s' "$page" | jq '[.messages[].id] | max // '"$last")
	[ "$(printf '%s' "$page" | jq .more)" = true ] || break
done

while sleep "$every"; do
	page=$(get "$last") || continue
	printf '%s' "$page" | jq -c '.messages[] | {id, text}' | while read -r m; do
		id=$(printf '%s' "$m" | jq .id)
		case $(printf '%s' "$m" | jq -r .text) in
		'!uptime') post "$(uptime)" "uptime-$id" ;;
		esac
	done
	last=$(printf '%s' "$page" | jq '[.messages[].id] | max // '"$last")
done
