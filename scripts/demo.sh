#!/usr/bin/env bash
# make demo: a narrated walk through Kindred on fresh, temporary homes.
# Usage: scripts/demo.sh [path/to/kindred]
set -euo pipefail

KINDRED=${1:-build/bin/kindred}
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
SAM="$WORK/sam-phone"
unset KINDRED_PASSPHRASE KINDRED_HOME

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() {
  local shown="" arg
  for arg in "$@"; do
    case "$arg" in *" "*) shown+=" \"$arg\"" ;; *) shown+=" $arg" ;; esac
  done
  printf '  $ kindred%s\n' "$shown"
  "$KINDRED" "$@" 2>&1 | sed 's/^/    /'
}
pause() { sleep "${DEMO_PAUSE:-0}"; }
# Waits for a line starting with $2 in file $1 and prints the rest of it.
line_of() {
  for _ in $(seq 200); do
    grep -q "^$2" "$1" 2>/dev/null && break
    sleep 0.05
  done
  sed -n "s/^$2//p" "$1" | head -n 1
}
start_serve() {
  printf '  $ kindred --home %s serve --listen 127.0.0.1:0 &\n' "$LAPTOP"
  "$KINDRED" --home "$LAPTOP" serve --listen 127.0.0.1:0 >"$WORK/serve.out" 2>>"$WORK/serve.log" &
  SERVE_PID=$!
  PEER=$(line_of "$WORK/serve.out" 'listening on ')
  echo "    listening on $PEER"
}
# pair KIND INVITER_HOME JOINER_HOME: an invite and a join, in two processes,
# over loopback; both show their safety words, which must match.
pair() {
  local kind=$1 inviter=$2 joiner=$3
  printf '  $ kindred --home %s invite %s --listen 127.0.0.1:0 &\n' "$inviter" "$kind"
  "$KINDRED" --home "$inviter" invite "$kind" --listen 127.0.0.1:0 --discovery off \
    >"$WORK/invite.out" 2>"$WORK/invite.err" &
  local invite_pid=$!
  local code where
  code=$(line_of "$WORK/invite.out" 'code: ')
  where=$(line_of "$WORK/invite.out" 'listening on ')
  echo "    code: $code"
  echo "    listening on $where"
  printf '  $ kindred --home %s join %s --peer %s\n' "$joiner" "$code" "$where"
  "$KINDRED" --home "$joiner" join "$code" --peer "$where" 2>/dev/null | tee "$WORK/join.out" |
    sed 's/^/    /'
  wait "$invite_pid"
  echo "  and the inviting device said:"
  sed -n '3,$p' "$WORK/invite.out" | grep -v '^discoverable' | sed 's/^/    /'
  if [ "$(sed -n 's/^safety: //p' "$WORK/invite.out")" != "$(sed -n 's/^safety: //p' "$WORK/join.out")" ]; then
    echo "  The safety words differ: this is a bug." >&2
    exit 1
  fi
}

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

say "4. Sam sets up their phone, in another home and another process. They pair with a short code."
run --home "$SAM" init --name Sam --device-name phone
pair partner "$LAPTOP" "$SAM"
say "   Both devices show the same five safety words: Alex and Sam read them to each other."
pause

say "5. Sam writes something private and something shared; then Sam's phone syncs with Alex's laptop."
SAM_PRIVATE=$("$KINDRED" --home "$SAM" journal add --mood 3 \
  "Private: I worry I have been distant lately." 2>/dev/null)
echo "  a private worry           -> $SAM_PRIVATE"
SAM_SHARED=$("$KINDRED" --home "$SAM" journal add --shared --mood 5 \
  "Thank you for the walk by the river on Sunday." 2>/dev/null)
echo "  a thank-you, shared       -> $SAM_SHARED"
say "   The laptop keeps \`kindred serve\` running; other devices sync with it over the network."
start_serve
run --home "$SAM" sync --peer "$PEER"
say "   Sam sees Alex's shared gratitude and their own entries, and none of Alex's private ones."
run --home "$SAM" journal list
for phrase in "brought me tea" "snapped at Sam"; do
  if "$KINDRED" --home "$SAM" journal list | grep -qF -- "$phrase"; then
    echo "  Sam can read Alex's private entry \"$phrase\": this is a bug." >&2
    exit 1
  fi
done
echo "  (checked: none of Alex's private entries is on Sam's phone, not even encrypted:"
echo "   Sam's device never belongs to Alex's personal space)"
run --home "$LAPTOP" journal list --shared
run --home "$SAM" devices
pause

say "6. Alex links their own phone with \`kindred invite device\`: it receives Alex's private entries too."
echo "  (serve keeps running: the invite runs in it, and it syncs with the phone as soon as it connects)"
run --home "$PHONE" init --name Alex --device-name phone
pair device "$LAPTOP" "$PHONE"
run --home "$PHONE" sync --peer "$PEER"
run --home "$PHONE" journal list
pause

say "7. Alex's two devices change the same entry while apart."
say "   serve holds the laptop's store; commands on the laptop go through it, as usual."
run --home "$LAPTOP" journal edit "$CLOSE" \
  "Sam brought me tea without asking while I worked late. I felt seen and cared for."
run --home "$PHONE" journal edit "$CLOSE" \
  "Sam brought me tea while I worked late. Small things like that are how I know."
run --home "$PHONE" sync --peer "$PEER"
say "   Kindred never silently drops either version: the entry is marked as a conflict."
run --home "$PHONE" journal show "$CLOSE"
pause

say "8. Alex settles it by writing the text they want to keep."
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
run --home "$LAPTOP" gratitude add --private "I want to get better at saying thank you out loud."
run --home "$SAM" sync --peer "$PEER"
say "   Sam's phone has the thank-you; the private note stayed on Alex's devices."
run --home "$SAM" gratitude list
if "$KINDRED" --home "$SAM" gratitude list | grep -qF "saying thank you out loud"; then
  echo "  Sam can read Alex's private gratitude note: this is a bug." >&2
  exit 1
fi
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

say "9. Every op is hash-chained, signed and authenticated."
run --home "$LAPTOP" verify
run --home "$LAPTOP" status
stop_serve
echo "  (stopped the laptop's serve; it said:)"
sed 's/^/    /' "$WORK/serve.log"

say "10. Proof that nothing is stored in plain text."
found=0
for phrase in "brought me tea" "snapped at Sam" "burnt toast" "closeness" "gratitude" "distant lately" \
  "favourite bread" "decide together"; do
  if grep -rlF -- "$phrase" "$LAPTOP" "$PHONE" "$SAM" >/dev/null 2>&1; then
    echo "  FOUND \"$phrase\" in a file under the homes"
    found=1
  else
    echo "  searched every file under the three homes for \"$phrase\": not found"
  fi
done
if [ "$found" -ne 0 ]; then
  echo "  Plaintext was found on disk: this is a bug." >&2
  exit 1
fi

say "That's Kindred so far: private by default, honest about conflicts, and yours alone."
