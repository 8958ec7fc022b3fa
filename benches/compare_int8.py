#!/usr/bin/env python3
"""int8 speed: Kestrel's committed int8 models against onnxruntime fp32 on the same source
models, and against onnxruntime's own static int8 QDQ models, same inputs, same thread counts,
one run (rounds alternate so machine noise hits every engine alike).

The QDQ models are made here with `onnxruntime.quantization.quantize_static` (per-channel
int8 weights, uint8 activations, the same calibration images Kestrel's converter used:
`target/calib` from models/build_zoo.sh plus the dev calibration split). Kestrel's fp32 zoo
models are timed too, for reference.

Usage: ./models/build_zoo.sh && cargo build --release -p ocr-benches &&
       python3 benches/compare_int8.py [--rounds 3] [--iters 10] [--threads 1,2] [--cases det,rec]
"""
import argparse
import os
import statistics
import sys
import tempfile

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from compare_fp32 import CASES, ROOT, ZOO, mf, time_onnx, time_ours

CALIB_LIST = os.path.join(ROOT, "models", "calib", "dev-calibration.txt")
SYNTH = os.path.join(ROOT, "target", "calib")
INT8 = {"det": "ppocrv4-det-int8.kmod", "rec": "ppocrv4-rec-int8.kmod"}


def calib_paths(kind):
    """The images Kestrel's converter calibrated `kind` on (absolute paths)."""
    dev = [l.split(" ", 1)[1].strip() for l in open(CALIB_LIST, encoding="utf-8") if l.startswith(kind + " ")]
    folder = os.path.join(SYNTH, "pages" if kind == "det" else "lines")
    synth = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".png"))
    return [os.path.join(mf.DEV, p) for p in dev] + synth


class Reader(CalibrationDataReader):
    def __init__(self, kind, spec):
        self.items = iter([mf.build_input(kind, [[p]], spec)[0] for p in calib_paths(kind)])

    def get_next(self):
        x = next(self.items, None)
        return None if x is None else {"x": x}


def qdq_model(kind, spec, tmp):
    out = os.path.join(tmp, f"{kind}-qdq.onnx")
    quantize_static(
        os.path.join(mf.MODELS, mf.MODEL_FILES[kind]),
        out,
        Reader(kind, spec),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cases", default="", help="comma-separated case name prefixes (default: all)")
    a = ap.parse_args()
    prefixes = [c for c in a.cases.split(",") if c]
    if not os.path.isdir(SYNTH):
        sys.exit("target/calib is missing: run models/build_zoo.sh first")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        qdq = {}
        for name, kind, fp32_kmod, images, spec in CASES:
            if prefixes and not any(name.startswith(p) for p in prefixes):
                continue
            if kind not in qdq:
                print(f"quantising {kind} with onnxruntime (QDQ)...", file=sys.stderr)
                qdq[kind] = qdq_model(kind, spec, tmp)
            x, _ = mf.build_input(kind, images, spec)
            path = os.path.join(tmp, "x.npy")
            np.save(path, x)
            fp32_onnx = os.path.join(mf.MODELS, mf.MODEL_FILES[kind])
            for th in [int(t) for t in a.threads.split(",")]:
                t = {"ort": [], "qdq": [], "k8": [], "k32": []}
                for _ in range(a.rounds):
                    t["ort"].append(time_onnx(fp32_onnx, x, th, a.iters))
                    t["qdq"].append(time_onnx(qdq[kind], x, th, a.iters))
                    t["k8"].append(time_ours(os.path.join(ZOO, INT8[kind]), path, th, a.iters))
                    t["k32"].append(time_ours(os.path.join(ZOO, fp32_kmod), path, th, a.iters))
                m = {k: statistics.median(v) for k, v in t.items()}
                rows.append((name, th, m))
    print("| case | threads | ort fp32 ms | ort int8 QDQ ms | kestrel int8 ms | kestrel fp32 ms | int8 / ort fp32 | int8 / ort QDQ |")
    print("|---|---|---|---|---|---|---|---|")
    for name, th, m in rows:
        print(
            f"| {name} | {th} | {m['ort']:.1f} | {m['qdq']:.1f} | {m['k8']:.1f} | {m['k32']:.1f} "
            f"| {m['k8'] / m['ort']:.2f} | {m['k8'] / m['qdq']:.2f} |"
        )


if __name__ == "__main__":
    main()
