#!/usr/bin/env python3
"""Time of aigis privacy against Google's dp_accounting on the same runs, in one run.

    python3 -m pip install dp-accounting
    python3 bench/privacy_bench.py target/debug/aigis [--repeat 3]

Each row: a DP-SGD run (sampling rate, noise multiplier, steps, delta 1e-5), its epsilon by
PLD and by RDP from both tools, and the best of `--repeat` times. aigis is timed as a
process (`aigis --json privacy epsilon --accountant pld|rdp`: reading nothing, the process's
start included); dp_accounting in this interpreter (a fresh accountant composed with the
run's event, then get_epsilon). Then the noise multiplier for a target epsilon by PLD:
`aigis privacy noise --accountant pld` against `calibrate_dp_mechanism` with the
PLDAccountant (tolerance 1e-4 relative for both).
"""

import argparse
import json
import subprocess
import time

import absl.logging
import dp_accounting as dpa

RUNS = (
    ("MNIST, 60 epochs", 256 / 60000, 1.1, 14062),
    ("CIFAR-10-like, 100 epochs", 512 / 50000, 1.5, 9766),
    ("small data, 20 epochs", 0.05, 1.0, 400),
    ("full batch, 100 steps", 1.0, 5.0, 100),
)


def best(f, repeat):
    out, took = None, float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        took = min(took, time.perf_counter() - t)
    return out, took


def aigis(binary, args):
    r = subprocess.run([binary, "--json", "privacy", *args], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def event(q, sigma, steps):
    return dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), steps)


def theirs(kind, q, sigma, steps):
    acc = dpa.pld.PLDAccountant() if kind == "pld" else dpa.rdp.RdpAccountant()
    acc.compose(event(q, sigma, steps))
    return acc.get_epsilon(1e-5)


def main():
    absl.logging.set_verbosity(absl.logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("aigis")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| run | accountant | aigis ε | dp_accounting ε | aigis | dp_accounting | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, q, sigma, steps in RUNS:
        for kind in ("pld", "rdp"):
            run = ["epsilon", "--sampling-rate", repr(q), "--noise-multiplier", repr(sigma),
                   "--steps", str(steps), "--delta", "1e-5", "--accountant", kind]
            ours, t_ours = best(lambda: aigis(args.aigis, run)["epsilon"], args.repeat)
            ref, t_ref = best(lambda: theirs(kind, q, sigma, steps), args.repeat)
            print(f"| {name} (q {q:.4g}, σ {sigma}, {steps} steps) | {kind.upper()} | {ours:.4f} | "
                  f"{ref:.4f} | {t_ours * 1000:.0f} ms | {t_ref * 1000:.0f} ms | {t_ref / t_ours:.2g}x |")
    name, q, steps, target = "MNIST, 60 epochs", 256 / 60000, 14062, 3.0
    ours, t_ours = best(lambda: aigis(args.aigis, [
        "noise", "--sampling-rate", repr(q), "--steps", str(steps), "--epsilon", str(target),
        "--delta", "1e-5", "--accountant", "pld"])["noise_multiplier"], 1)
    ref, t_ref = best(lambda: dpa.calibrate_dp_mechanism(
        dpa.pld.PLDAccountant, lambda s: event(q, s, steps), target, 1e-5,
        bracket_interval=dpa.ExplicitBracketInterval(0.5, 3.0), tol=1e-4 * 0.97), 1)
    print(f"\nnoise for ε {target} by PLD, {name}: aigis {ours:.5f} in {t_ours:.1f} s, "
          f"dp_accounting {ref:.5f} in {t_ref:.1f} s ({t_ref / t_ours:.1f}x)")


if __name__ == "__main__":
    main()
