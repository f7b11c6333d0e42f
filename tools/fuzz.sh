#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Fuzzes the httpd-free parsers of mod_kvcache with libFuzzer, and replays
# the crashers kept in fuzz/regressions/.
#
#   tools/fuzz.sh [--jobs N] [--targets a,b] [SECONDS_PER_TARGET]
#       Replays fuzz/regressions/ and the seed corpus first, then builds
#       each target with clang -fsanitize=fuzzer,address,undefined straight
#       from the core sources (no autotools build needed) and fuzzes it for
#       SECONDS_PER_TARGET (default 60), N targets at a time (default 1).
#       Prints execs per target; fails on any crash, leak, timeout or
#       invariant failure, whose input libFuzzer writes to
#       fuzz/regressions/<target>/ (minimise it with
#       fuzz/build/fuzz_<target> -minimize_crash=1 -runs=100000 FILE).
#   tools/fuzz.sh --runs N [--seed S] [--jobs N] [--targets a,b]
#       The same, but N executions per target instead of a time.  With
#       --seed, libFuzzer's random generator starts from S and the
#       scratch corpus starts empty (fuzz/build/corpus-seed<S>/), so a
#       run depends on the commit alone: same counts, same verdict.
#   tools/fuzz.sh --ci
#       What CI runs (tools/ci-hardening.sh): the replay, then every
#       target for a fixed number of executions (ci_runs_of below) with
#       --seed 1, two at a time.  Deterministic; about 70 s on 2 cores.
#   tools/fuzz.sh --replay [--targets a,b]
#       The regression check, without libFuzzer: builds each target with
#       gcc -fsanitize=address,undefined and fuzz/replay_main.c, and feeds
#       it every file in fuzz/regressions/<target>/ and fuzz/corpus/<target>/.
#
# Each target's line gives its executions, time, rate and libFuzzer's
# final coverage (cov: edges, ft: features, corp: units); with --seed,
# two runs of one commit print the same counts.
#
# Environment: FUZZ_CC (clang), REPLAY_CC (gcc), FUZZ_BUILD (fuzz/build:
# binaries, logs, the growing scratch corpora), FUZZ_MAX_LEN (longest
# input; default 8192, less for some targets), FUZZ_ARGS (more libFuzzer
# flags, e.g. "-only_ascii=1").
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

all_targets=(json json_write extract tokenize lookup matches matches_format
             promtext parse tokpack lru usage)
# The httpd-free core, compiled straight in: the .c files of
# libkvccore_la_SOURCES in Makefile.am, so sources added there come along.
mapfile -t core_sources < <(sed -n '/^libkvccore_la_SOURCES *=/,/[^\\]$/p' \
    Makefile.am | tr ' \\' '\n\n' | grep '^src/.*\.c$')
if [ ${#core_sources[@]} -eq 0 ]; then
    echo "fuzz.sh: no libkvccore_la_SOURCES in Makefile.am" >&2
    exit 1
fi
declare -A dict_of=(
    [json]=json [extract]=json [tokenize]=json [lookup]=json
    [matches]=matches
    [matches_format]=matches [promtext]=promtext [parse]=parse [usage]=json
)
# Longest input per target (default 8192): hundreds of records or
# operations already reach every state; longer inputs only slow them down.
declare -A max_len_of=([matches_format]=2048 [lru]=2048 [parse]=256
                       [json_write]=1024)
# --ci: executions per target, about 8 s each at two targets at a time on
# this project's 2-core machines (a fixed count, not a time, so that a
# slow or busy machine takes longer but reaches the same verdict).
declare -A ci_runs_of=([json]=300000 [json_write]=120000 [extract]=300000
                       [tokenize]=300000 [lookup]=300000 [matches]=1500000
                       [matches_format]=600000 [promtext]=200000
                       [parse]=800000 [tokpack]=1000000 [lru]=400000
                       [usage]=300000)

mode=fuzz
seconds=60
runs=
seed=
jobs=1
targets=("${all_targets[@]}")
while [ $# -gt 0 ]; do
    case $1 in
        --replay) mode=replay ;;
        --runs) runs=$2; shift ;;
        --seed) seed=$2; shift ;;
        --jobs) jobs=$2; shift ;;
        --ci) mode=ci; seed=1; jobs=2 ;;
        --targets) IFS=, read -r -a targets <<<"$2"; shift ;;
        -h|--help) sed -n '2,38p' "${BASH_SOURCE[0]}"; exit 0 ;;
        [0-9]*) seconds=$1 ;;
        *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for t in "${targets[@]}"; do
    [ -f "fuzz/fuzz_$t.c" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
done

build=${FUZZ_BUILD:-$top/fuzz/build}
mkdir -p "$build"
pkgs="apr-1 apr-util-1 json-c openssl libcurl"
cppflags="-Isrc/core -Ifuzz $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lm"
# Every apr_palloc() of the core becomes an exact-size malloc() (see
# fuzz/fuzz_common.h), so ASan sees overflows of pool buffers too; the
# core's random seeds become fixed bytes, so runs and crashes reproduce.
wrap="-Wl,--wrap=apr_palloc -Wl,--wrap=apr_generate_random_bytes"
warn="-Wall -Wextra -Wno-unused-parameter"
san_common="-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Readable stack traces in libFuzzer reports (package llvm-14).
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
    for sym in llvm-symbolizer llvm-symbolizer-14 \
               /usr/lib/llvm-14/bin/llvm-symbolizer; do
        if command -v "$sym" >/dev/null 2>&1; then
            export ASAN_SYMBOLIZER_PATH
            ASAN_SYMBOLIZER_PATH=$(command -v "$sym")
            break
        fi
    done
fi

# Builds fuzz/build/<prefix>_<target> for every selected target with one
# compiler and flag set, compiling the shared objects once.
build_flavour() {
    local cc=$1 prefix=$2 flags=$3 extra=$4
    local objdir="$build/obj-$prefix" objs=() src obj t
    mkdir -p "$objdir"
    # The core's warnings are the autotools build's business (-Werror
    # there, and another compiler here); the harness's are ours.
    for src in "${core_sources[@]}"; do
        obj="$objdir/$(basename "${src%.c}").o"
        $cc $flags -w $cppflags -c "$src" -o "$obj"
        objs+=("$obj")
    done
    for src in fuzz/fuzz_common.c $extra; do
        obj="$objdir/$(basename "${src%.c}").o"
        $cc $flags $warn $cppflags -c "$src" -o "$obj"
        objs+=("$obj")
    done
    for t in "${targets[@]}"; do
        $cc $flags $warn $cppflags -c "fuzz/fuzz_$t.c" \
            -o "$objdir/fuzz_$t.o"
        $cc $flags "$objdir/fuzz_$t.o" "${objs[@]}" $wrap $libs \
            -o "$build/${prefix}_$t"
    done
}

replay() {
    local cc=${REPLAY_CC:-gcc} t dirs failed=0
    echo "== building replay drivers ($cc -fsanitize=address,undefined)"
    build_flavour "$cc" replay "$san_common -fsanitize=address,undefined" \
        fuzz/replay_main.c
    echo "== replaying fuzz/regressions and fuzz/corpus"
    for t in "${targets[@]}"; do
        dirs=()
        for d in "fuzz/regressions/$t" "fuzz/corpus/$t"; do
            [ -d "$d" ] && dirs+=("$d")
        done
        [ ${#dirs[@]} -gt 0 ] || continue
        if "$build/replay_$t" "${dirs[@]}" >"$build/replay_$t.log" 2>&1;
        then
            printf '  %-15s %s\n' "$t" "$(tail -n 1 "$build/replay_$t.log" \
                                          | sed 's/.*: //')"
        else
            printf '  %-15s FAILED\n' "$t"
            tail -n 40 "$build/replay_$t.log" | sed 's/^/    /'
            failed=1
        fi
    done
    return $failed
}

fuzz_one() {
    local t=$1 log="$build/logs/$t.log" dict limit scratch n
    dict=${dict_of[$t]:-}
    n=$runs
    [ "$mode" = ci ] && n=${ci_runs_of[$t]}
    if [ -n "$n" ]; then limit="-runs=$n"
    else limit="-max_total_time=$seconds"; fi
    scratch="$build/corpus/$t"
    if [ -n "$seed" ]; then
        # Reproducible: a fixed seed, and the same corpus every time (the
        # seeds only; what an earlier run found would change the course).
        # No comparison tracing either: the operands it feeds back into
        # mutations include addresses, which ASLR and APR's randomly
        # seeded hash tables change from run to run.
        scratch="$build/corpus-seed$seed/$t"
        rm -rf "$scratch"
        limit="$limit -seed=$seed -reload=0 -use_cmp=0 -use_memmem=0"
    fi
    mkdir -p "$scratch" "fuzz/regressions/$t" "$build/logs"
    # New units go to the first (scratch) directory, never to the seeds.
    # shellcheck disable=SC2086
    "$build/fuzz_$t" $limit -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -max_len=${FUZZ_MAX_LEN:-${max_len_of[$t]:-8192}} \
        -artifact_prefix="fuzz/regressions/$t/" \
        ${dict:+-dict=fuzz/dict/$dict.dict} ${FUZZ_ARGS:-} \
        "$scratch" "fuzz/corpus/$t" >"$log" 2>&1
}

report_one() {
    local t=$1 rc=$2 log="$build/logs/$t.log" execs secs rate cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" \
           | tail -1)
    [ -n "$secs" ] || secs=$(sed -n 's/.*DONE.*time: \([0-9]*\)s.*/\1/p' \
                             "$log" | tail -1)
    rate=$(awk -v e="${execs:-0}" -v s="${secs:-0}" \
           'BEGIN { if (s > 0) printf "%d", e / s; else print "-" }')
    # "#N DONE cov: C ft: F corp: U/..." (or the last status line).
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 \
          | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1 ft \2 corp \3/p')
    if [ "$rc" = 0 ]; then
        printf '  %-15s %12s execs %6ss %9s/s  %s  ok\n' "$t" "${execs:-?}" \
            "${secs:-?}" "$rate" "${cov:-}"
    else
        printf '  %-15s %12s execs %6ss %9s/s  FAILED (exit %s)\n' "$t" \
            "${execs:-?}" "${secs:-?}" "$rate" "$rc"
        { grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" \
            || tail -n 5 "$log"; } | head -n 12 | sed 's/^/    /' || true
        echo "    full log: $log"
    fi
}

replay || { echo "fuzz.sh: regression replay failed" >&2; exit 1; }
[ "$mode" = replay ] && exit 0

cc=${FUZZ_CC:-clang}
# -fsanitize=fuzzer also measures how deep the stack got, a feature that
# depends on where the stack starts (the environment's size, ASLR): with
# it, one seed and one corpus could still take different courses.
no_stack_depth="-fno-sanitize-coverage=stack-depth"
echo "== building libFuzzer targets ($cc -fsanitize=fuzzer,address,undefined)"
build_flavour "$cc" fuzz \
    "$san_common -fsanitize=fuzzer,address,undefined $no_stack_depth" ""

if [ "$mode" = ci ]; then budget="fixed runs (tools/fuzz.sh ci_runs_of)"
elif [ -n "$runs" ]; then budget="$runs runs"
else budget="${seconds}s"; fi
[ -n "$seed" ] && budget="$budget, seed $seed"
echo "== fuzzing ${targets[*]} ($budget each, $jobs at a time)"
failed=0
start_all=$(date +%s)
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    rm -f "$build/logs/$t.rc"
    ( if fuzz_one "$t"; then rc=0; else rc=$?; fi
      echo "$rc" >"$build/logs/$t.rc" ) &
done
wait
for t in "${targets[@]}"; do
    rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo 99)
    report_one "$t" "$rc"
    [ "$rc" = 0 ] || failed=1
done
echo "== fuzzing took $(( $(date +%s) - start_all ))s"
if [ $failed != 0 ]; then
    echo "fuzz.sh: FAILED; crashing inputs are in fuzz/regressions/" >&2
    exit 1
fi
