#!/usr/bin/env python3
"""Throughput of the onnxruntime reference pipeline recognising the same line crops as
`load_bench` (one process per core, one onnxruntime thread each), for the same wall time.

Usage: python3 benches/reference_throughput.py [--seconds 30] [--procs 2]
"""
import argparse
import multiprocessing as mp
import os
import time

import cv2
import numpy as np

from reference_pipeline import Reference

DEV = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "eval", "dev"))
FILES = ["paddleocr/doc/imgs_words/ch/word_1.jpg", "synthetic_renders/images/line1_sans.png", "paddleocr/doc/imgs_words_en/word_116.png"]


def worker(args):
    seconds, k = args
    ref = Reference(1)
    imgs = [cv2.imdecode(np.fromfile(os.path.join(DEV, f), np.uint8), cv2.IMREAD_COLOR) for f in FILES]
    ref.read_line(imgs[0])
    n, end = 0, time.time() + seconds
    while time.time() < end:
        ref.read_line(imgs[(n + k) % len(imgs)])
        n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--procs", type=int, default=os.cpu_count())
    a = ap.parse_args()
    with mp.Pool(a.procs) as pool:
        counts = pool.map(worker, [(a.seconds, k) for k in range(a.procs)])
    print(f'{{"procs": {a.procs}, "requests": {sum(counts)}, "throughput_rps": {sum(counts) / a.seconds:.1f}}}')


if __name__ == "__main__":
    main()
