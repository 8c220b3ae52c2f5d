#!/usr/bin/env bash
# Fuzz smoke test: runs every cargo-fuzz target for FUZZ_SECONDS seconds (default 10),
# starting from its seeds, and fails if any target crashes (a panic, an ASan report, a
# timeout or running out of memory).
#
#   scripts/fuzz-smoke.sh                  # all targets, 10 s each
#   FUZZ_SECONDS=300 scripts/fuzz-smoke.sh proof model_bundle
#
# The targets live in three cargo-fuzz packages, each its own workspace (see fuzz/README.md):
# fuzz/ (the parsers), fuzz/signing/ (the OpenSSF signature parser, whose aigis-model
# brings the signing crates p256 and p384, kept out of the other targets' build) and
# fuzz/runtime/ (ONNX models loaded and run by aigis-runtime, which brings tract). A target
# is named alone; the script finds its package. For a target in <dir>, the seeds are in
# <dir>/seeds/<target> and only read, new inputs go to <dir>/corpus/<target> and crashes to
# <dir>/artifacts/<target> (both git-ignored).
#
# cargo-fuzz needs nightly-only compiler flags (-Zsanitizer=address, coverage passes);
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Every cargo-fuzz package, by its directory. All build into fuzz/target (the default of
# the first), so the crates they resolve with the same features (libfuzzer-sys, libc,
# flate2, rayon, zeroize, …) are compiled once with the fuzzing instrumentation: cold,
# fuzz/signing compiles 60 crates after fuzz/ instead of 130 in a target dir of its own.
fuzz_dirs=(fuzz fuzz/signing fuzz/runtime)
target_dir="$root/fuzz/target"
dirs_text="$(printf '%s/ ' "${fuzz_dirs[@]}")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-10}"

# Which package each target is in.
declare -A dir_of=()
all=()
for dir in "${fuzz_dirs[@]}"; do
    mapfile -t listed < <(cargo fuzz list --fuzz-dir "$dir")
    for target in "${listed[@]}"; do
        if [ -n "${dir_of[$target]:-}" ]; then
            echo "fuzz-smoke: target \`$target\` is in both ${dir_of[$target]}/ and $dir/" >&2
            exit 2
        fi
        dir_of[$target]="$dir"
        all+=("$target")
    done
done

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=("${all[@]}")
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no fuzz targets found in ${dirs_text% }" >&2
    exit 2
fi
for target in "${targets[@]}"; do
    if [ -z "${dir_of[$target]:-}" ]; then
        echo "fuzz-smoke: no fuzz target \`$target\` in ${dirs_text% } (targets: ${all[*]})" >&2
        exit 2
    fi
done

# Build every package that holds a chosen target, all of its targets, once: a compile
# error stops the run before any fuzzing.
for dir in "${fuzz_dirs[@]}"; do
    for target in "${targets[@]}"; do
        if [ "${dir_of[$target]}" = "$dir" ]; then
            cargo fuzz build --fuzz-dir "$dir" --target-dir "$target_dir"
            break
        fi
    done
done

failed=()
for target in "${targets[@]}"; do
    dir="${dir_of[$target]}"
    if [ ! -d "$dir/seeds/$target" ]; then
        echo "fuzz-smoke: no seeds in $dir/seeds/$target" >&2
        failed+=("$target (no seeds)")
        continue
    fi
    mkdir -p "$dir/corpus/$target"
    echo "fuzz-smoke: $target ($dir/) for ${seconds}s" >&2
    # The first corpus directory receives new inputs; the seeds directory is only read.
    if ! cargo fuzz run --fuzz-dir "$dir" --target-dir "$target_dir" "$target" \
        "$dir/corpus/$target" "$dir/seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1; then
        failed+=("$target (crashing inputs are in $dir/artifacts/$target)")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-smoke: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${seconds}s without a crash" >&2
