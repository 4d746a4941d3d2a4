#!/bin/sh
# ci-notify.sh: post a CI result to a Tertulia room with curl.
#
#   TERTULIA_URL=https://chat.example.com TERTULIA_TOKEN=tt_... \
#     ./ci-notify.sh dev "build $CI_PIPELINE_ID passed" "build-$CI_PIPELINE_ID"
#
# The third argument (a cid) makes the post idempotent: a retried job posts
# it once. Exit status: 0 posted, 1 refused or unreachable (the answer, a
# JSON error frame with a code, is printed).
set -eu
room=$1
text=$2
cid=${3:-}
: "${TERTULIA_URL:?set TERTULIA_URL, e.g. https://chat.example.com}"
: "${TERTULIA_TOKEN:?set TERTULIA_TOKEN to a bot token (/token new NAME NICK)}"

# JSON-quote the text and the cid without needing jq.
quote() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | awk 'BEGIN{ORS=""} NR>1{print "\\n"} {print}'; }

curl -sS --fail-with-body --retry 3 --retry-all-errors --max-time 20 \
	-X POST "$TERTULIA_URL/api/rooms/$room/messages" \
	-H "Authorization: Bearer $TERTULIA_TOKEN" \
	-H "Content-Type: application/json" \
	--data-binary "{\"text\":\"$(quote "$text")\",\"cid\":\"$(quote "$cid")\"}"
echo
