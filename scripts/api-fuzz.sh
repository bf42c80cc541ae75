#!/usr/bin/env bash
# The schema-driven API attack: schemathesis against the real `attendance-server serve`, every
# operation of /api/openapi.json, as an employee, as HR staff and as a super admin.
#
#   scripts/api-fuzz.sh [SECONDS]      SECONDS of fuzzing per role (default 100: about 6 minutes)
#   scripts/api-fuzz.sh --short        20 s per role (about 2 minutes), what .ci/run runs
#   API_FUZZ_MAX_EXAMPLES=50 scripts/api-fuzz.sh 200
#   API_FUZZ_SERVER=target/debug/attendance-server scripts/api-fuzz.sh --short   (no build)
#
# What it does: builds the server (debug profile), starts `serve` on a free 127.0.0.1 port with a
# fresh temporary --data-dir and a super admin, seeds it through the API (scripts/api-fuzz-seed.py:
# employees in two departments, HR, employee and department-head logins, a machine, a leave
# policy, holidays, scans, a leave request, a correction), installs schemathesis (pinned, from
# PyPI) into target/api-fuzz-venv, and runs its examples, coverage and fuzzing phases once per
# role with that role's bearer token (employee first, so the others' changes to accounts cannot
# revoke its token mid-run). Checks: not_a_server_error, status_code_conformance,
# content_type_conformance, response_schema_conformance, and role_allows
# (scripts/api-fuzz-hooks.py: no 2xx to a role the operation's `x-roles` does not list).
# Each role's run is bounded by --max-time and API_FUZZ_MAX_EXAMPLES per operation; the server is
# killed on exit. Prints operations x roles, test cases and failures per check, and exits non-zero
# on any failure. Reports (NDJSON, JUnit) and the server's log stay in target/api-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SCHEMATHESIS_VERSION=4.32.5
SECONDS_PER_ROLE=100
MAX_EXAMPLES="${API_FUZZ_MAX_EXAMPLES:-25}"
case "${1:-}" in
  --short) SECONDS_PER_ROLE=20; MAX_EXAMPLES="${API_FUZZ_MAX_EXAMPLES:-5}" ;;
  '') ;;
  *[!0-9]*) echo "usage: $0 [SECONDS | --short]" >&2; exit 2 ;;
  *) SECONDS_PER_ROLE="$1" ;;
esac
ROLES=(employee hr_staff super_admin)
OUT=target/api-fuzz
VENV=target/api-fuzz-venv
started=$(date +%s)

if [ -n "${API_FUZZ_SERVER:-}" ]; then
  SERVER="$API_FUZZ_SERVER" # a binary built just before (.ci/run: the one `cargo test` built)
else
  echo "== cargo build -p attendance-server"
  cargo build --quiet -p attendance-server --bin attendance-server
  SERVER="${CARGO_TARGET_DIR:-target}/debug/attendance-server"
fi

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
data_dir=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
admin_password="api-fuzz-admin-$(date +%s)"
echo "== serve on $base (data in $data_dir)"
RUST_LOG="${RUST_LOG:-warn}" "$SERVER" serve --bind "127.0.0.1:$port" --data-dir "$data_dir" \
  --admin-user admin --admin-password "$admin_password" >"$OUT/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('$base/healthz', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "error: the server stopped; its log:" >&2
    cat "$OUT/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
python3 scripts/api-fuzz-seed.py "$base" admin "$admin_password" "$OUT"

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,role_allows
failed=0
summaries=()
for role in "${ROLES[@]}"; do
  echo "== schemathesis as $role (${SECONDS_PER_ROLE} s, at most $MAX_EXAMPLES examples per operation)"
  status=0
  # Run from $OUT: schemathesis keeps its cache (.schemathesis/) in the working directory.
  (cd "$OUT" && API_FUZZ_ROLE="$role" API_FUZZ_USER="$(cat "$role.user")" \
    SCHEMATHESIS_HOOKS=api-fuzz-hooks PYTHONPATH="$root/scripts" \
    "$root/$VENV/bin/schemathesis" run "$base/api/openapi.json" \
    --header "Authorization: Bearer $(cat "$role.token")" \
    --checks "$checks" \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" --max-time "$SECONDS_PER_ROLE" \
    --workers 1 --request-timeout 30 --no-color \
    --report junit,ndjson --report-dir "$role") >"$OUT/$role.log" 2>&1 || status=$?
  operations=$(sed -n 's/^ *Tested: *\([0-9]*\).*/\1/p' "$OUT/$role.log" | tail -n 1)
  cases=$(sed -n 's/^ *\([0-9]*\) generated.*/\1/p' "$OUT/$role.log" | tail -n 1)
  failures=$(sed -n '/^Failures:/,/^$/p' "$OUT/$role.log" | sed -n 's/^ *❌ *\(.*\): \([0-9]*\)$/\1: \2/p' | paste -sd ';' -)
  if [ "$status" -ne 0 ]; then
    failed=$((failed + 1))
    sed -n '/^=* FAILURES =*/,$p' "$OUT/$role.log" | head -n 400
    [ -n "$failures" ] || { tail -n 40 "$OUT/$role.log"; failures="schemathesis exited with $status"; }
  fi
  summaries+=("$role|${operations:-0}|${cases:-0}|${failures:-none}")
done
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
panicked=0
if grep -q "panicked" "$OUT/server.log"; then
  echo "the server panicked:" >&2
  grep -A5 "panicked" "$OUT/server.log" | head -n 40 >&2
  panicked=1
fi

echo
echo "API fuzzing, $(date -u +%Y-%m-%d), schemathesis $SCHEMATHESIS_VERSION, ${SECONDS_PER_ROLE} s per role, at most $MAX_EXAMPLES examples per operation and phase:"
echo
echo "| role | operations | test cases | failures |"
echo "| --- | ---: | ---: | --- |"
total_ops=0
total_cases=0
for s in "${summaries[@]}"; do
  IFS='|' read -r role ops cases fails <<<"$s"
  echo "| \`$role\` | $ops | $cases | $fails |"
  total_ops=$((total_ops + ops))
  total_cases=$((total_cases + cases))
done
echo "| **total** | **$total_ops** | **$total_cases** | |"
echo
echo "checks: $checks; took $(( $(date +%s) - started )) s; reports in $OUT/"
echo "api-fuzz: $(( ${#ROLES[@]} - failed )) passed, $failed failed"
if [ "$failed" -ne 0 ] || [ "$panicked" -ne 0 ]; then
  echo "FAILED: see the failures above and $OUT/<role>.log" >&2
  exit 1
fi
