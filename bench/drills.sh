#!/usr/bin/env bash
# Every drill scenario, REPEAT runs each (default 5), with the fast and the Omnibus profile, asynchronous
# and synchronous replication: one report (Markdown, JSON beside it, a PNG timeline per run) whose tables
# put the four configurations side by side. Needs root; brings the lab up (./lab unless LAB=DIR).
# All of it takes hours (the Omnibus profile holds each fault 60 s): REPEAT=1 for a first look.
#
#   bench/drills.sh                      # REPEAT=5, report in bench/results/drills.md
#   REPEAT=1 REPORT=/tmp/d.md bench/drills.sh
#   PROFILES=fast SYNC="off on" SCENARIOS="patroni-leader-killed leader-node-lost" bench/drills.sh
set -uo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-5}
LAB=${LAB:-lab}
REPORT=${REPORT:-bench/results/drills.md}
BIN=${BIN:-.venv/bin}
PROFILES=${PROFILES:-fast omnibus}
SYNC=${SYNC:-off on}
SCENARIOS=${SCENARIOS:-all}
mkdir -p "$(dirname "$REPORT")"
status=0
for profile in $PROFILES; do
  for sync in $SYNC; do
    flags=(--lab "$LAB" --repeat "$REPEAT" --profile "$profile" --report "$REPORT")
    [ "$sync" = on ] && flags+=(--sync)
    echo "== drills: $profile profile, synchronous replication $sync, $REPEAT run(s) each"
    # shellcheck disable=SC2086  # SCENARIOS is a list of names
    "$BIN/gitlab-ha" drill run $SCENARIOS "${flags[@]}"
    code=$?
    [ "$code" = 130 ] && exit 130
    [ "$code" = 0 ] || status=1
  done
done
echo "report: $REPORT"
for profile in $PROFILES; do
  echo "== README table, $profile profile (bench/drills_table.py)"
  "$BIN/python" bench/drills_table.py --profile "$profile" "${REPORT%.*}.json"
done
exit "$status"
