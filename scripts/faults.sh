#!/usr/bin/env bash
# Runs every fault scenario of `examples/server/tests/api/faults.rs` (README, "Faults"), the
# opt-in ones included, with longer outages and more punches than the test suite's short
# versions, one after the other, and prints each one's figures (lost, doubled, gap, latencies).
# Exits non-zero if any scenario failed. Everything runs on 127.0.0.1 and stops by itself
# (the whole run is bounded by FAULTS_TIMEOUT seconds, 1,200 by default).
#
#   scripts/faults.sh                      every scenario
#   ATT_FAULT_PG_CLUSTER=faults scripts/faults.sh
#                                          restart that cluster instead of `main` (point
#                                          DATABASE_URL at it): other users of `main` keep
#                                          their connections
#
# Knobs (environment): DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres by default),
# ATT_FAULT_OUTAGE_SECS (the proxy outage, 45 s here, 22 s in the test suite), ATT_FAULT_KILLS
# (SIGKILLs, 20), ATT_FAULT_PUNCHES (latency samples per phase, 100 here, 20 in the suite),
# ATT_KILL_SEED (replays a kill schedule), ATT_FAULT_PG_RESTART (1 here: the real
# `pg_ctlcluster … restart`, which drops every connection of that cluster, other engineers'
# tests included; set it to empty to leave it out). The full-disk scenario mounts a tmpfs, so
# it needs root (it says it skipped otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export ATT_FAULT_OUTAGE_SECS="${ATT_FAULT_OUTAGE_SECS:-45}"
export ATT_FAULT_KILLS="${ATT_FAULT_KILLS:-20}"
export ATT_FAULT_PUNCHES="${ATT_FAULT_PUNCHES:-100}"
export ATT_FAULT_PG_RESTART="${ATT_FAULT_PG_RESTART-1}"
[ -n "$ATT_FAULT_PG_RESTART" ] || unset ATT_FAULT_PG_RESTART
LIMIT="${FAULTS_TIMEOUT:-1200}"

cargo test -p attendance-server --test api --no-run
mkdir -p target
LOG=target/faults.log
status=0
timeout "$LIMIT" cargo test -p attendance-server --test api -- faults:: --test-threads=1 \
  --nocapture >"$LOG" 2>&1 || status=$?
echo "== figures (full output in $LOG)"
grep -oE '(postgres outage|sigkill|sqlite faults|read-only data|system-status during|bad devices|skipped|kill test seed)[^|]*$' "$LOG" || true
echo "== results"
grep -E '^test faults::|^test result' "$LOG" || true
if [ "$status" -ne 0 ]; then
  echo "FAILED (exit $status): see $LOG" >&2
fi
exit "$status"
