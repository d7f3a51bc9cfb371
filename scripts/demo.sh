#!/usr/bin/env bash
# make demo: a narrated walk through Kindred on fresh, temporary homes.
# Usage: scripts/demo.sh [path/to/kindred]
set -euo pipefail

KINDRED=${1:-build/bin/kindred}
BIN_DIR=$(dirname "$KINDRED")
LOCAL_SYNC="$BIN_DIR/kindred-local-sync"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kindred-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
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
run --home "$LAPTOP" journal edit "$CLOSE" \
  "Sam brought me tea without asking while I worked late. I felt seen and cared for."
run --home "$PHONE" journal edit "$CLOSE" \
  "Sam brought me tea while I worked late. Small things like that are how I know."
"$LOCAL_SYNC" sync "$LAPTOP" "$PHONE" | sed 's/^/  /'
say "   Kindred never silently drops either version: the entry is marked as a conflict."
run --home "$PHONE" journal show "$CLOSE"
pause

say "5. Alex settles it by writing the text they want to keep."
run --home "$PHONE" journal edit "$CLOSE" \
  "Sam brought me tea without asking while I worked late. Small things like that are how I know I am cared for."
"$LOCAL_SYNC" sync "$LAPTOP" "$PHONE" | sed 's/^/  /'
run --home "$LAPTOP" journal show "$CLOSE"
pause

say "6. Every op is hash-chained, signed and authenticated."
run --home "$LAPTOP" verify
run --home "$LAPTOP" status

say "7. Proof that nothing is stored in plain text."
found=0
for phrase in "brought me tea" "snapped at Sam" "burnt toast" "closeness" "gratitude"; do
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
