#!/usr/bin/env bash
# make demo: a narrated walk through Kindred on fresh, temporary homes.
# Usage: scripts/demo.sh [path/to/kindred]
set -euo pipefail

KINDRED=${1:-build/bin/kindred}
BIN_DIR=$(dirname "$KINDRED")
LOCAL_SYNC="$BIN_DIR/kindred-local-sync"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kindred-demo.XXXXXX")
SERVE_PID=""
stop_serve() {
  if [ -n "$SERVE_PID" ]; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
  fi
}
trap 'stop_serve; rm -rf "$WORK"' EXIT
LAPTOP="$WORK/alex-laptop"
PHONE="$WORK/alex-phone"
unset KINDRED_PASSPHRASE KINDRED_HOME

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() {
  local shown="" arg
  for arg in "$@"; do
    case "$arg" in *" "*) shown+=" \"$arg\"" ;; *) shown+=" $arg" ;; esac
  done
  printf '  $ kindred%s\n' "$shown"
  "$KINDRED" "$@" | sed 's/^/    /'
}
pause() { sleep "${DEMO_PAUSE:-0}"; }

say "Kindred keeps a couple's journals and rituals on their own devices, encrypted."
echo "  This demo uses throwaway homes under $WORK."

say "1. Alex sets up their laptop."
run --home "$LAPTOP" init --name Alex --device-name laptop
pause

say "2. Alex writes a few moments from the day."
CLOSE=$("$KINDRED" --home "$LAPTOP" journal add --mood 5 --tag closeness \
  "Sam brought me tea without asking while I worked late. I felt seen." 2>/dev/null)
echo "  a moment of closeness      -> $CLOSE"
HARD=$("$KINDRED" --home "$LAPTOP" journal add --mood 2 --tag hard \
  "Something that was hard today: I snapped at Sam about the dishes." 2>/dev/null)
echo "  something that was hard    -> $HARD"
THANKS=$("$KINDRED" --home "$LAPTOP" journal add --shared --mood 4 --tag gratitude \
  "Grateful that we laughed about the burnt toast instead of arguing." 2>/dev/null)
echo "  a gratitude, to be shared  -> $THANKS"
run --home "$LAPTOP" journal list
pause

say "3. Later, Alex adds what they want to do about the hard moment."
run --home "$LAPTOP" journal edit "$HARD" \
  "Something that was hard today: I snapped at Sam about the dishes. Tomorrow I will say sorry and ask how their day really was."
run --home "$LAPTOP" journal show "$HARD"
pause

say "4. Alex links their phone, and both devices change the same entry while apart."
run --home "$PHONE" init --name Alex --device-name phone
"$LOCAL_SYNC" link "$LAPTOP" "$PHONE" | sed 's/^/  /'
say "   The laptop keeps \`kindred serve\` running; other devices sync with it over the network."
printf '  $ kindred --home %s serve --listen 127.0.0.1:0 &\n' "$LAPTOP"
"$KINDRED" --home "$LAPTOP" serve --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$WORK/serve.out" 2>/dev/null && break
  sleep 0.05
done
sed 's/^/    /' "$WORK/serve.out"
PEER=$(sed -n 's/^listening on //p' "$WORK/serve.out")
say "   serve holds the laptop's store; commands on the laptop go through it, as usual."
run --home "$LAPTOP" journal edit "$CLOSE" \
  "Sam brought me tea without asking while I worked late. I felt seen and cared for."
run --home "$PHONE" journal edit "$CLOSE" \
  "Sam brought me tea while I worked late. Small things like that are how I know."
run --home "$PHONE" sync --peer "$PEER"
say "   Kindred never silently drops either version: the entry is marked as a conflict."
run --home "$PHONE" journal show "$CLOSE"
pause

say "5. Alex settles it by writing the text they want to keep."
run --home "$PHONE" journal edit "$CLOSE" \
  "Sam brought me tea without asking while I worked late. Small things like that are how I know I am cared for."
run --home "$PHONE" sync --peer "$PEER"
run --home "$LAPTOP" journal show "$CLOSE"
run --home "$PHONE" peers
pause

say "Alongside the journal, Alex keeps the small rituals they share with Sam."
YESTERDAY=$(date -d yesterday +%Y-%m-%d)
CHECKIN=$("$KINDRED" --home "$LAPTOP" ritual add "Five-minute check-in" --rrule FREQ=DAILY \
  --start "${YESTERDAY}T21:00" --duration 5m --tz Europe/Berlin 2>/dev/null)
echo "  a five-minute check-in, every evening  -> $CHECKIN"
DATE_NIGHT=$("$KINDRED" --home "$LAPTOP" ritual add "Date night" --rrule "FREQ=WEEKLY;BYDAY=FR" \
  --start "${YESTERDAY}T19:30" --duration 2h --tz Europe/Berlin 2>/dev/null)
echo "  a date night, every Friday             -> $DATE_NIGHT"
run --home "$LAPTOP" ritual upcoming --days 7 --tz Europe/Berlin
say "   Last night's check-in happened. Alex marks it, with a few words."
run --home "$LAPTOP" ritual done "$CHECKIN" --at "${YESTERDAY}T21:00" --mood 4 \
  --note "Sam told me about the hard meeting. I mostly listened."
run --home "$LAPTOP" today --tz Europe/Berlin
say "   The calendar leaves as a standard .ics file that calendar apps import."
run --home "$LAPTOP" ritual export --out "$WORK/rituals.ics"
tr -d '\r' < "$WORK/rituals.ics" |
  awk '/^BEGIN:VEVENT/ { e = 1 } e && /^(SUMMARY|DTSTART|RRULE)/ { print "    " $0 } /^END:VEVENT/ { e = 0 }'
pause

say "Habits grow as plugins. Three come with Kindred: gratitude, repair and stats."
run --home "$LAPTOP" plugins
say "   At the end of the day, Alex notices a small effort and says thank you (shared, unless --private)."
run --home "$LAPTOP" gratitude add "Sam picked up my favourite bread on the way home, without being asked."
run --home "$PHONE" sync --peer "$PEER"
run --home "$PHONE" gratitude list
say "   A disagreement about the weekend. Later, they come back to it, gently."
REPAIR=$("$KINDRED" --home "$LAPTOP" repair open "plans for the weekend" 2>/dev/null)
echo "  a repair, opened -> $REPAIR"
run --home "$LAPTOP" repair note "$REPAIR" "You never ask me before making plans."
say "   Kindred suggests an I-statement; Alex tries again."
run --home "$LAPTOP" repair note "$REPAIR" --feeling "left out" --need "to decide together" \
  "I feel left out when plans are made without me, because I need us to decide together."
run --home "$LAPTOP" repair agree "$REPAIR" "We check with each other before saying yes to weekend plans."
run --home "$LAPTOP" repair resolve "$REPAIR"
run --home "$LAPTOP" repair list
say "   How are they doing? The small things, counted week by week."
run --home "$LAPTOP" stats --weeks 4
"$KINDRED" --home "$LAPTOP" stats --weeks 8 --html "$WORK/report.html" 2>/dev/null >/dev/null
echo "  and as a page for the browser, with charts: $WORK/report.html (removed with the demo)"
pause

say "6. Every op is hash-chained, signed and authenticated."
run --home "$LAPTOP" verify
run --home "$LAPTOP" status
stop_serve
echo "  (stopped the laptop's serve; it said:)"
sed 's/^/    /' "$WORK/serve.log"

say "7. Proof that nothing is stored in plain text."
found=0
for phrase in "brought me tea" "snapped at Sam" "burnt toast" "closeness" "gratitude" \
  "favourite bread" "decide together"; do
  if grep -rlF -- "$phrase" "$LAPTOP" "$PHONE" >/dev/null 2>&1; then
    echo "  FOUND \"$phrase\" in a file under the homes"
    found=1
  else
    echo "  searched every file under both homes for \"$phrase\": not found"
  fi
done
if [ "$found" -ne 0 ]; then
  echo "  Plaintext was found on disk: this is a bug." >&2
  exit 1
fi

say "That's Kindred so far: private by default, honest about conflicts, and yours alone."
