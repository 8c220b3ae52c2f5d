#!/usr/bin/env bash
# Fuzz smoke test: runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS seconds
# (default 10), starting from its seeds in fuzz/seeds/<target>, and fails if any target
# crashes (a panic, an ASan report, a timeout or running out of memory).
#
#   scripts/fuzz-smoke.sh                  # all targets, 10 s each
#   FUZZ_SECONDS=300 scripts/fuzz-smoke.sh proof
#
# cargo-fuzz needs nightly-only compiler flags (-Zsanitizer=address, coverage passes);
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. New inputs go to
# fuzz/corpus/<target> (git-ignored), crashes to fuzz/artifacts/<target>; the seeds are
# only read.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# cargo-fuzz looks for `fuzz/` under the directory it runs in.
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-10}"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no fuzz targets found in $root/fuzz" >&2
    exit 2
fi

# Build everything once, so a compile error stops the run before any fuzzing.
cargo fuzz build

failed=()
for target in "${targets[@]}"; do
    if [ ! -d "fuzz/seeds/$target" ]; then
        echo "fuzz-smoke: no seeds in fuzz/seeds/$target" >&2
        failed+=("$target (no seeds)")
        continue
    fi
    mkdir -p "fuzz/corpus/$target"
    echo "fuzz-smoke: $target for ${seconds}s" >&2
    # The first corpus directory receives new inputs; the seeds directory is only read.
    if ! cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-smoke: FAILED: ${failed[*]} (crashing inputs are in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${seconds}s without a crash" >&2
