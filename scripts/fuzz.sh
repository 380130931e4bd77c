#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs each one for FUZZ_SECONDS.
#
# Usage: scripts/fuzz.sh [TARGET...]      targets: manifest license export proof pubkey canonical (default: all)
# Environment:
#   FUZZ_SECONDS   time per target (default 600)
#   FUZZ_BUILD     build folder (default build-fuzz)
#   FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (default 10)
#   FUZZ_KEEP_GOING=1  fuzz on after a crash (libFuzzer -fork=1 -ignore_crashes=1 ...),
#                  collecting every crash in the artifacts folder, for hunting past
#                  a known bug; default: stop at the first crash
#   JOBS           parallel compile jobs (default nproc)
#
# Each target first replays its reproducers in tests/fuzz/regressions/<target>/,
# then fuzzes a writable copy of the seeds in tests/fuzz/corpus/<target>/ kept at
# $FUZZ_BUILD/corpus/<target> (inputs found by earlier runs stay there). A crash,
# leak, UBSan report or hang is written to $FUZZ_BUILD/artifacts/<target>/.
# Prints one summary line per target; exits 1 when any target crashed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

seconds=${FUZZ_SECONDS:-600}
build=${FUZZ_BUILD:-build-fuzz}
timeout=${FUZZ_TIMEOUT:-10}
jobs=${JOBS:-$(nproc)}
all_targets=(manifest license export proof pubkey canonical)
targets=("${@:-${all_targets[@]}}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (${all_targets[*]})" >&2; exit 64; }
done

bash scripts/deps.sh fuzz

CC=clang CXX=clang++ cmake -S . -B "$build" -DSIGNET_FUZZ=ON -DSIGNET_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}"

# halt_on_error: a UBSan report is a finding, not a warning scrolling past.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

summary=()
failed=0
# Records a finding in $crashed, after any earlier one of the same target.
note_crash() { if [[ "$crashed" == no ]]; then crashed="$1"; else crashed="$crashed; $1"; fi; }
for t in "${targets[@]}"; do
  exe="$build/tests/fuzz/fuzz_$t"
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  log="$build/fuzz_$t.log"
  mkdir -p "$corpus" "$artifacts"
  cp -r "tests/fuzz/corpus/$t/." "$corpus/"
  flags=(-rss_limit_mb=2048 -max_len=65536 -timeout="$timeout" -artifact_prefix="$artifacts/" -print_final_stats=1)

  crashed=no
  regressions="tests/fuzz/regressions/$t"
  if [[ -d "$regressions" ]] && [[ -n "$(ls -A "$regressions")" ]]; then
    echo "== fuzz_$t: replaying $regressions"
    if ! "$exe" "${flags[@]}" "$regressions"/* >"$build/fuzz_${t}_regressions.log" 2>&1; then
      note_crash "yes (a reproducer in $regressions fails again; see $build/fuzz_${t}_regressions.log)"
    fi
  fi

  echo "== fuzz_$t: fuzzing for ${seconds}s (log: $log)"
  rc=0
  before=$(find "$artifacts" -type f | wc -l)
  if [[ "${FUZZ_KEEP_GOING:-0}" == 1 ]]; then
    "$exe" "${flags[@]}" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
      -max_total_time="$seconds" "$corpus" >"$log" 2>&1 || rc=$?
    # "#RUNS: cov: .. exec/s R oom/timeout/crash: O/T/C time: Ss job: .."
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
    runs=$(sed -n 's/^#\([0-9]*\):.*/\1/p' <<<"$last")
    secs=$(sed -n 's/.* time: \([0-9]*\)s.*/\1/p' <<<"$last")
    rate=$([[ -n "$runs" && -n "$secs" && "$secs" -gt 0 ]] && echo $((runs / secs)) || echo "")
    found=$(sed -n 's#.*oom/timeout/crash: \([0-9/]*\).*#\1#p' <<<"$last")
    after=$(find "$artifacts" -type f | wc -l)
    if ((rc != 0 || after > before)); then
      note_crash "yes ($((after - before)) new artifacts in $artifacts, oom/timeout/crash ${found:-?}; see $log)"
    fi
  else
    "$exe" "${flags[@]}" -max_total_time="$seconds" "$corpus" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if ((rc != 0)); then
      artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
      note_crash "yes (exit $rc${artifact:+, reproducer $artifact}; see $log)"
    fi
  fi
  [[ "$crashed" == no ]] || failed=1
  summary+=("fuzz_$t: ${runs:-?} runs, ${rate:-?} exec/s, corpus $(find "$corpus" -type f | wc -l) files, crashes: $crashed")
done

echo
echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
