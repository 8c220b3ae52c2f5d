#!/usr/bin/env python3
"""DP-SGD: `aigis train --dp` beside Opacus on the same model, data and settings.

For each of scikit-learn's digits, breast_cancer and wine (70/30 stratified split), and
each target ε in 1, 3, 8 at δ = 1e-5: the held-out accuracy of an MLP (one ReLU layer of
100 units, softmax), trained by DP-SGD with Poisson sampling (expected batch 64), per-row
clipping to norm 1, Adam at 0.01, 30 epochs, no weight decay, by

- aigis: `aigis train --dp --epsilon E` (its noise: the least its PLD accountant allows);
- Opacus: `PrivacyEngine.make_private_with_epsilon` (its noise: its own accountant's).

Both scale each feature by the same bounds: the dataset's range rounded outward, taken
as public (a benchmark's usual assumption; a real run takes them from the domain). Both
see the same rows. Each setting runs `--seeds` times; the mean and the range are shown.
The time of each is its training loop (aigis: as its `--json` reports it; Opacus: the
loop over its data loader), beside the same tool's non-private training of the same model
for the same 30 epochs (aigis's stops earlier when its loss settles), single-threaded both
(torch.set_num_threads(1)); and, apart, the time of finding the noise for the target ε
(aigis: its PLD search and the final accounting by PLD and RDP; Opacus:
`make_private_with_epsilon` with its PRV accountant).

    pip install torch opacus scikit-learn onnxruntime pandas
    cargo build --release -p aigis
    python3 bench/dp_train_bench.py --aigis target/release/aigis [--seeds 5]
"""

import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split

EPOCHS, BATCH, LR, CLIP, HIDDEN, DELTA = 30, 64, 0.01, 1.0, 100, 1e-5


def data(name):
    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine}[name]
    d = loader(as_frame=True)
    x = d.frame.drop(columns="target")
    x.columns = [f"f{i}" for i in range(x.shape[1])]
    lo = np.floor(x.min().values)
    hi = np.ceil(x.max().values)
    hi = np.where(hi > lo, hi, lo + 1)
    xtr, xte, ytr, yte = train_test_split(
        x, d.target, test_size=0.3, random_state=0, stratify=d.target
    )
    return xtr, xte, ytr.values, yte.values, lo, hi


def run_aigis(binary, tmp, xtr, ytr, xte, yte, lo, hi, eps):
    csv = os.path.join(tmp, "train.csv")
    frame = xtr.copy()
    frame["y"] = ytr
    frame.to_csv(csv, index=False)
    out = os.path.join(tmp, "m.onnx")
    cmd = [binary, "--json", "train", csv, "--label", "y", "--hidden", str(HIDDEN),
           "--learning-rate", str(LR), "--alpha", "0", "--epochs", str(EPOCHS), "-o", out]
    if eps is not None:
        cmd += ["--dp", "--epsilon", str(eps), "--delta", str(DELTA),
                "--batch-size", str(BATCH), "--max-grad-norm", str(CLIP)]
        cmd += [f"--bounds=f{j}={lo[j]}:{hi[j]}" for j in range(len(lo))]
        cmd += ["--classes", ",".join(str(c) for c in sorted(set(ytr) | set(yte)))]
    report = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    seconds = report["seconds"]["training"]
    accounting = report["seconds"]["accounting"] or 0.0
    session = ort.InferenceSession(out)
    label = session.run(["label"], {"input": xte.values.astype(np.float32)})[0]
    classes = np.array(report["classes"])
    sigma = report["dp"]["noise_multiplier"] if report.get("dp") else 0.0
    return float((classes[label] == yte).mean()), seconds, sigma, accounting


def run_opacus(xtr, ytr, xte, yte, lo, hi, eps, seed):
    import torch
    from opacus import PrivacyEngine

    torch.manual_seed(seed)
    mid, half = (lo + hi) / 2, (hi - lo) / 2

    def scale(x):
        return torch.tensor((np.clip(x.values, lo, hi) - mid) / half, dtype=torch.float32)

    xt, xv = scale(xtr), scale(xte)
    yt = torch.tensor(ytr, dtype=torch.long)
    classes = int(max(ytr.max(), yte.max())) + 1
    model = torch.nn.Sequential(
        torch.nn.Linear(xt.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, classes)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(xt, yt), batch_size=BATCH, shuffle=True
    )
    sigma, accounting = 0.0, 0.0
    if eps is not None:
        start = time.perf_counter()
        engine = PrivacyEngine(accountant="prv")
        model, optimizer, loader = engine.make_private_with_epsilon(
            module=model, optimizer=optimizer, data_loader=loader, target_epsilon=eps,
            target_delta=DELTA, epochs=EPOCHS, max_grad_norm=CLIP, poisson_sampling=True,
        )
        sigma = optimizer.noise_multiplier
        accounting = time.perf_counter() - start
    start = time.perf_counter()
    loss = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(EPOCHS):
        for xb, yb in loader:
            if len(xb) == 0:
                continue
            optimizer.zero_grad()
            loss(model(xb), yb).backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predicted = model(xv).argmax(1).numpy()
    return float((predicted == yte).mean()), seconds, sigma, accounting


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aigis", default="target/release/aigis")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", default="digits,breast_cancer,wine")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    print("| data | ε | aigis accuracy | Opacus accuracy | σ aigis / Opacus | aigis training s (× non-private) | Opacus training s (× non-private) | noise search s aigis / Opacus |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            xtr, xte, ytr, yte, lo, hi = data(name)
            base = {}
            for eps in [None, 1, 3, 8]:
                a = [run_aigis(args.aigis, tmp, xtr, ytr, xte, yte, lo, hi, eps)
                     for _ in range(args.seeds)]
                o = [run_opacus(xtr, ytr, xte, yte, lo, hi, eps, s) for s in range(args.seeds)]
                acc_a = np.array([r[0] for r in a])
                acc_o = np.array([r[0] for r in o])
                t_a = float(np.median([r[1] for r in a]))
                t_o = float(np.median([r[1] for r in o]))
                s_a = float(np.median([r[3] for r in a]))
                s_o = float(np.median([r[3] for r in o]))
                if eps is None:
                    base = {"a": t_a, "o": t_o}
                label = "∞ (non-private)" if eps is None else str(eps)
                sig = "–" if eps is None else f"{a[0][2]:.3f} / {o[0][2]:.3f}"
                print(
                    f"| {name} | {label} | {acc_a.mean():.3f} ({acc_a.min():.3f}–{acc_a.max():.3f}) "
                    f"| {acc_o.mean():.3f} ({acc_o.min():.3f}–{acc_o.max():.3f}) | {sig} "
                    f"| {t_a:.3f} ({t_a / base['a']:.2f}×) | {t_o:.3f} ({t_o / base['o']:.2f}×) "
                    f"| {'–' if eps is None else f'{s_a:.2f} / {s_o:.2f}'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
