#!/usr/bin/env python3
"""Robust aggregation against poisoning clients: each `aigis federate serve --aggregate`
rule on scikit-learn's digits, breast_cancer and wine, with a stated share of the
clients attacking.

Each dataset is split 70/30 (stratified, seed 0); the training rows are dealt at random
among 10 clients, of which 2 (20 %) or 3 (30 %) attack: sign flip (their update times
-10), scaled updates (times 50), boosted label flipping (classes reversed, times 10) and a
backdoor (a trigger of the last four features at their upper bound, labelled with the
class a clean federation gives triggered rows least, the update scaled by clients /
attackers: model replacement). 20 rounds of FedAvg's
local SGD (one epoch, step 0.1, batches of 32), an MLP of 32 hidden units; the rules are
the mean, the mean after a norm bound (twice the median honest update norm of the first
round), the coordinate-wise median, the trimmed mean (0.2), Krum and multi-Krum (f = the
attackers). The held-out accuracy, and for the backdoor the share of held-out rows of
other classes the trigger turns into the target (beside the trigger's natural rate, the
same share with no attacker), averaged over 3 seeds.

The simulation runs `aigis_train::aggregate` and `aigis_train::federated` in one process
(`crates/aigis-train/examples/federated_poisoning.rs`): the rules are what is measured,
and `aigis federate` runs the same code between processes.

Then the cost of secure aggregation, between real processes: `aigis federate serve` and
5 `aigis federate join` clients (each its own project and key, on loopback TLS), each
holding a fifth of digits' training rows, 10 rounds of an MLP of 32 units; the
coordinator's time with and without `--secure-aggregation`, and the models' largest
difference in a parameter (the fixed point's rounding).

    pip install scikit-learn
    python3 bench/federated_bench.py [--aigis target/debug/aigis]
"""

import argparse
import json
import os
import subprocess
import tempfile
import time

from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split

SETS = {
    # name: (loader, public bounds for every feature or None for per-feature ranges)
    "digits": (load_digits, (0, 16)),
    "breast_cancer": (load_breast_cancer, None),
    "wine": (load_wine, None),
}


def write(path, X, y):
    with open(path, "w") as f:
        f.write(",".join([f"f{i}" for i in range(X.shape[1])] + ["y"]) + "\n")
        for r, label in zip(X, y):
            f.write(",".join(repr(float(v)) for v in r) + f",{int(label)}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--malicious", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    ap.add_argument("--aigis", default=os.path.join("target", "debug", "aigis"))
    ap.add_argument("--skip-rules", action="store_true")
    a = ap.parse_args()
    if not a.skip_rules:
        rules(a)
    overhead(a)


def overhead(a):
    aigis = os.path.abspath(a.aigis)
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    print("\nsecure aggregation's cost (5 clients as processes, digits, 10 rounds)\n")
    print("| aggregation | coordinator seconds | test accuracy |")
    print("|---|---|---|")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        parties = ["coord"] + [f"c{i}" for i in range(5)]
        for p in parties:
            d = os.path.join(tmp, p)
            os.makedirs(d)
            subprocess.run([aigis, "init", "-q"], cwd=d, check=True, capture_output=True)
            with open(os.path.join(tmp, p + ".vkey"), "w") as f:
                f.write(subprocess.run([aigis, "keys", "show"], cwd=d, check=True, capture_output=True, text=True).stdout)
        for i in range(5):
            write(os.path.join(tmp, f"c{i}", "t.csv"), Xtr[i::5], ytr[i::5])
        for secure in (False, True, False, True, False, True):
            out = os.path.join(tmp, "coord", f"m{int(secure)}.onnx")
            cmd = [aigis, "federate", "serve", "--listen", "127.0.0.1:0", "--bounds", "0:16",
                   "--classes", ",".join(str(c) for c in range(10)), "--rounds", "10",
                   "--federation", f"bench-{int(secure)}", "-o", out]
            for i in range(5):
                cmd += ["--client", os.path.join(tmp, f"c{i}.vkey")]
            if secure:
                cmd.append("--secure-aggregation")
            start = time.perf_counter()
            server = subprocess.Popen(cmd, cwd=os.path.join(tmp, "coord"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            addr = server.stdout.readline().strip()
            joins = [subprocess.Popen([aigis, "-q", "federate", "join", addr, "t.csv", "--label", "y",
                                       "--coordinator", os.path.join(tmp, "coord.vkey")],
                                      cwd=os.path.join(tmp, f"c{i}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for i in range(5)]
            for j in joins:
                j.wait()
            server.wait()
            seconds = time.perf_counter() - start
            import onnxruntime as ort
            import numpy as np
            sess = ort.InferenceSession(out)
            pred = sess.run(None, {sess.get_inputs()[0].name: Xte.astype(np.float32)})[0].ravel()
            acc = float((pred == yte).mean())
            results.setdefault(secure, []).append((seconds, acc))
    for secure in (False, True):
        runs = sorted(results[secure])
        seconds, acc = runs[len(runs) // 2]
        print(f"| {'secure' if secure else 'plain'} | {seconds:.2f} (median of {len(runs)}) | {acc:.3f} |")
    med = {k: sorted(v)[len(v) // 2][0] for k, v in results.items()}
    print(f"\nsecure / plain time: {med[True] / med[False]:.2f}x")


def rules(a):
    subprocess.run(
        ["cargo", "build", "-q", "-p", "aigis-train", "--example", "federated_poisoning"],
        check=True,
    )
    exe = os.path.join("target", "debug", "examples", "federated_poisoning")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.sets:
            loader, bounds = SETS[name]
            X, y = loader(return_X_y=True)
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.3, random_state=0, stratify=y
            )
            tr, te = os.path.join(tmp, f"{name}_train.csv"), os.path.join(tmp, f"{name}_test.csv")
            write(tr, Xtr, ytr)
            write(te, Xte, yte)
            for m in a.malicious:
                cmd = [exe, tr, te, "--clients", "10", "--malicious", str(m), "--seeds", str(a.seeds)]
                if bounds:
                    cmd += ["--low", str(bounds[0]), "--high", str(bounds[1])]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                for line in out.splitlines():
                    r = json.loads(line)
                    r.update(dataset=name, malicious=m)
                    results.append(r)
    attacks = ["none", "sign-flip", "scaled", "label-flip", "backdoor"]
    for name in a.sets:
        for m in a.malicious:
            rows = [r for r in results if r["dataset"] == name and r["malicious"] == m]
            print(f"\n{name}, {m} of 10 clients attacking (accuracy; backdoor: accuracy / success, natural rate)\n")
            print("| rule | " + " | ".join(attacks) + " |")
            print("|---|" + "---|" * len(attacks))
            for rule in dict.fromkeys(r["rule"] for r in rows):
                cells = []
                for at in attacks:
                    r = next(x for x in rows if x["rule"] == rule and x["attack"] == at)
                    cell = f"{r['accuracy']:.3f}"
                    if at == "backdoor":
                        base = next(x for x in rows if x["rule"] == rule and x["attack"] == "none")
                        cell += f" / {r['attack_success']:.3f} ({base['attack_success']:.3f})"
                    cells.append(cell)
                print(f"| {rule} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
