#!/usr/bin/env python3
"""End-to-end page latency: Kestrel (`pipeline_bench`) against the onnxruntime reference
pipeline (benches/reference_pipeline.py, standard PP-OCR mode) on the same page images with the
same thread count, in one run. Reports per-image medians, the ratio, and Kestrel's stage split.

Usage: cargo build --release -p ocr-benches && python3 benches/compare_pipeline.py [--threads 1,2]
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import cv2
import numpy as np

from reference_pipeline import Reference

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEV = os.path.normpath(os.path.join(ROOT, "..", "shared", "eval", "dev"))
PAGES = [
    "paddleocr/doc/imgs/11.jpg",
    "synthetic_renders/images/doc_clean.png",
    "cnocr/examples/multi-line_cn2.png",
    "rapidocr/python/tests/test_files/ch_en_num.jpg",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--precision", default="int8", help="Kestrel's committed models: int8 (default) or fp32")
    ap.add_argument("--refine-below", type=float, help="Kestrel re-reads lines with a character under this probability with the fp32 recogniser (int8's default: 0.5; 0: int8 alone)")
    a = ap.parse_args()
    paths = [os.path.join(DEV, p) for p in PAGES]
    print("| threads | reference ms/page | kestrel ms/page | ratio | kestrel decode / detect / post / rectify / classify / recognise ms |")
    print("|---|---|---|---|---|")
    for th in [int(t) for t in a.threads.split(",")]:
        ref = Reference(th)
        datas = [np.fromfile(p, np.uint8) for p in paths]
        for d in datas:
            ref.read(cv2.imdecode(d, cv2.IMREAD_COLOR))
        times = []
        for _ in range(a.iters):
            for d in datas:
                t = time.perf_counter()
                ref.read(cv2.imdecode(d, cv2.IMREAD_COLOR))
                times.append((time.perf_counter() - t) * 1e3)
        r = statistics.median(times)
        refine = ["--refine-below", str(a.refine_below)] if a.refine_below is not None else []
        out = subprocess.run([os.path.join(ROOT, "target", "release", "pipeline_bench"), "--threads", str(th), "--iters", str(a.iters), "--precision", a.precision] + refine + paths, check=True, capture_output=True, text=True)
        k = json.loads(out.stdout)
        s = k["stages_median_ms"]
        split = " / ".join(f"{s[x]:.1f}" for x in ["decode", "detect", "postprocess", "rectify", "classify", "recognize"])
        print(f"| {th} | {r:.1f} | {k['median_ms']:.1f} | {k['median_ms'] / r:.2f} | {split} |")


if __name__ == "__main__":
    main()
