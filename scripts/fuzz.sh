#!/usr/bin/env bash
# Fuzzes every decoder that reads outside input: builds all the cargo-fuzz targets of fuzz/ once
# (nightly, AddressSanitizer) and runs each for SECONDS (default 60), one after the other, bounded
# in time, memory and time per input. Prints a table of executions and crashes per target and
# exits non-zero if any target crashed (a panic, a sanitizer report, a timeout or out of memory;
# the input is kept under fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh [SECONDS]          every target
#   FUZZ_TARGETS="zk_packet adms_body" scripts/fuzz.sh 30
#   FUZZ_GROW=1 scripts/fuzz.sh 600    new inputs are added to fuzz/corpus/<target>/ (minimise
#                                      them with `cargo +nightly fuzz cmin <target>` afterwards)
#
# Each run starts from the corpus kept in the repository (fuzz/corpus/<target>/, seeded from the
# fixtures by scripts/fuzz-seed.py); without FUZZ_GROW, what a run finds goes to a scratch
# directory and the repository is left as it was. Installs cargo-fuzz when it is missing; needs
# the nightly toolchain (`rustup toolchain install nightly`).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-60}"
RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-2048}"
TIMEOUT_S="${FUZZ_TIMEOUT:-10}"
case "$SECONDS_EACH" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "error: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

targets=()
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Seed corpora missing from this checkout (normally they are kept in the repository).
for t in "${targets[@]}"; do
  if [ -z "$(ls -A "fuzz/corpus/$t" 2>/dev/null)" ]; then
    python3 scripts/fuzz-seed.py >/dev/null
    break
  fi
done

echo "== cargo fuzz build (all targets, one build)"
build_start=$(date +%s)
cargo +nightly fuzz build
echo "build: $(( $(date +%s) - build_start )) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
results=()
total_execs=0
total_crashes=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$t" "$scratch/$t"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  if [ "${FUZZ_GROW:-0}" = 1 ]; then
    dirs=("fuzz/corpus/$t")
  else
    dirs=("$scratch/$t" "fuzz/corpus/$t")
  fi
  log="$scratch/$t.log"
  echo "== $t (${SECONDS_EACH} s)"
  status=0
  cargo +nightly fuzz run "$t" "${dirs[@]}" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$TIMEOUT_S" \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  execs=${execs:-0}
  crashes=$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1 # it stopped on an error that left no artifact: show why
  fi
  if [ "$crashes" -gt 0 ]; then
    tail -n 40 "$log"
    ls -t "fuzz/artifacts/$t" | head -n "$crashes" | sed "s|^|kept: fuzz/artifacts/$t/|"
  fi
  results+=("$t $execs $crashes")
  total_execs=$(( total_execs + execs ))
  total_crashes=$(( total_crashes + crashes ))
done

echo
echo "Fuzzing, $(date -u +%Y-%m-%d), ${SECONDS_EACH} s per target:"
echo
echo "| target | executions | crashes |"
echo "| --- | ---: | ---: |"
for r in "${results[@]}"; do
  read -r t e c <<<"$r"
  echo "| \`$t\` | $e | $c |"
done
echo "| **total** | **$total_execs** | **$total_crashes** |"
echo
crashed=0
for r in "${results[@]}"; do
  read -r _ _ c <<<"$r"
  [ "$c" -eq 0 ] || crashed=$(( crashed + 1 ))
done
echo "fuzz: $(( ${#results[@]} - crashed )) passed, $crashed failed"
if [ "$total_crashes" -ne 0 ]; then
  echo "FAILED: $total_crashes crash(es); inputs under fuzz/artifacts/" >&2
  exit 1
fi
