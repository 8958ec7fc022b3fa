#!/usr/bin/env python3
"""fp32 speed of Kestrel's runtime against onnxruntime, same inputs, same thread counts, one run.

Builds real inputs (det 960x960 from a card photo, rec 48x320 from a word crop, preprocessed as
the golden fixtures are), times onnxruntime in-process and Kestrel's `runtime_bench` binary,
alternating rounds so machine noise hits both, and prints medians and ratios (ours / ort).

Usage: ./models/build_zoo.sh && cargo build --release -p ocr-benches &&
       python3 benches/compare_fp32.py [--rounds 3] [--iters 10] [--model rec=PATH.kmod]

`--model KIND=PATH` times another Kestrel model of that kind (e.g. an int8 conversion from
`kestrel convert --int8`) against the same onnxruntime fp32 model; `--cases` picks cases by
name prefix.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "testdata", "golden"))
import make_fixtures as mf  # noqa: E402

BENCH = os.path.join(ROOT, "target", "release", "runtime_bench")
ZOO = os.path.join(ROOT, "models", "zoo")

CASES = [
    ("det 960x960", "det", "ppocrv4-det-fp32.kmod", [["tianxing1994_OpenCV/dataset/data/bank_card/card_ 4.png"]], {"h": 960, "w": 960}),
    ("rec 48x320", "rec", "ppocrv4-rec-fp32.kmod", [["paddleocr/doc/imgs_words_en/word_116.png"]], {"h": 48, "w": 320}),
    ("rec 48x320 b8", "rec", "ppocrv4-rec-fp32.kmod", [["paddleocr/doc/imgs_words_en/word_116.png"]] * 8, {"h": 48, "w": 320}),
]


def time_ort(model, x, threads, iters):
    return time_onnx(os.path.join(mf.MODELS, mf.MODEL_FILES[model]), x, threads, iters)


def time_onnx(path, x, threads, iters):
    """Median ms of onnxruntime running the ONNX file at `path` on `x`."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    for _ in range(2):
        s.run(None, {"x": x})
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        s.run(None, {"x": x})
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)


def time_ours(kmod, path, threads, iters):
    out = subprocess.run([BENCH, kmod, path, "--threads", str(threads), "--iters", str(iters)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["median_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--model", action="append", default=[], help="KIND=PATH: a Kestrel model to time instead of the zoo's fp32 one")
    ap.add_argument("--cases", default="", help="comma-separated case name prefixes (default: all)")
    a = ap.parse_args()
    override = dict(m.split("=", 1) for m in a.model)
    prefixes = [c for c in a.cases.split(",") if c]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, kmod, images, spec in CASES:
            if prefixes and not any(name.startswith(p) for p in prefixes):
                continue
            kmod = override.get(model, os.path.join(ZOO, kmod))
            x, _ = mf.build_input(model, images, spec)
            path = os.path.join(tmp, "x.npy")
            np.save(path, x)
            for th in [int(t) for t in a.threads.split(",")]:
                o, k = [], []
                for _ in range(a.rounds):
                    o.append(time_ort(model, x, th, a.iters))
                    k.append(time_ours(kmod, path, th, a.iters))
                ro, rk = statistics.median(o), statistics.median(k)
                rows.append((name, th, ro, rk, rk / ro))
    print("| case | threads | onnxruntime ms | kestrel ms | ratio |")
    print("|---|---|---|---|---|")
    for name, th, ro, rk, r in rows:
        print(f"| {name} | {th} | {ro:.1f} | {rk:.1f} | {r:.2f} |")


if __name__ == "__main__":
    main()
