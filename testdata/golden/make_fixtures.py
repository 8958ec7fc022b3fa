#!/usr/bin/env python3
"""Generates the fp32 golden fixtures: onnxruntime outputs of the three source models on real
images from ../shared/eval/dev.

Inputs are rebuilt by the Rust tests (models/tests/golden.rs) from the same PNG files (PNG
decoding is exact) with the same integer nearest-neighbour resize, so only the outputs are stored: probabilities quantised
to u16 (error <= 7.7e-6, far under the 1e-4 tolerance), recogniser argmax sequences, zlib-
compressed in one .npz per case, plus `cases.json` describing how each input is built.

Usage: python3 testdata/golden/make_fixtures.py   (needs numpy, pillow, onnxruntime)
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
DEV = os.path.join(SHARED, "eval", "dev")
MODELS = os.path.join(SHARED, "models-src")

DET_MEAN, DET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
LINE_MEAN, LINE_STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]

# Long real line for the 1200-wide recogniser case: word crops side by side.
WORDS = [
    "paddleocr/doc/imgs_words_en/word_308.png",
    "paddleocr/doc/imgs_words_en/word_116.png",
    "paddleocr/doc/imgs_words_en/word_201.png",
    "paddleocr/doc/imgs_words/en/word_1.png",
    "paddleocr/doc/imgs_words_en/word_10.png",
    "paddleocr/doc/imgs_words_en/word_19.png",
    "paddleocr/doc/imgs_words_en/word_52.png",
    "paddleocr/doc/imgs_words/en/word_2.png",
]

# (case, model, batch elements (each a list of image paths relative to eval/dev, placed side by
# side), input spec). `tol` overrides the 1e-4 tolerance where the input is ill-conditioned.
CASES = [
    ("det_320x320_b1", "det", [["cnocr/examples/multi-line_cn2.png"]], {"h": 320, "w": 320}),
    ("det_736x1280_b1", "det", [["tianxing1994_OpenCV/dataset/data/bank_card/card_ 4.png"]], {"h": 736, "w": 1280}),
    ("det_1024x192_b1", "det", [["rapidocr/python/tests/test_files/text_vertical_words.png"]], {"h": 1024, "w": 192}),
    ("det_320x320_b4", "det", [
        ["cnocr/examples/multi-line_cn2.png"],
        ["tianxing1994_OpenCV/dataset/data/bank_card/card_ 3.png"],
        ["tianxing1994_OpenCV/dataset/data/bank_card/card_ 5.png"],
        ["rapidocr/python/tests/test_files/text_vertical_words.png"],
    ], {"h": 320, "w": 320}),
    ("rec_48x80_b1", "rec", [["paddleocr/doc/imgs_words/en/word_1.png"]], {"h": 48, "w": 80}),
    ("rec_48x320_b1", "rec", [["paddleocr/doc/imgs_words_en/word_116.png"]], {"h": 48, "w": 320}),
    ("rec_48x1200_b1", "rec", [WORDS], {"h": 48, "w": 1200}),
    # 266x17 renders of random characters, upscaled: low-confidence, near-tie positions where
    # fp32 rounding order alone moves probabilities by ~4e-4 (onnxruntime's optimised graph vs
    # its unoptimised one differ by 4.2e-4 here; Kestrel's depthwise kernel with fused
    # multiply-adds, against the same without, moves them by 5.5e-4), so this case gets a
    # wider tolerance.
    ("rec_48x1200_randchars", "rec", [["cnocr/examples/rand_cn1.png"]], {"h": 48, "w": 1200, "tol": 1e-3}),
    ("rec_48x320_b4", "rec", [
        ["paddleocr/doc/imgs_words_en/word_308.png"],
        ["paddleocr/doc/imgs_words_en/word_201.png"],
        ["paddleocr/doc/imgs_words/en/word_1.png"],
        ["paddleocr/doc/imgs_words/chinese_traditional/chinese_cht_1.png"],
    ], {"h": 48, "w": 320}),
    ("cls_48x192_b1", "cls", [["paddleocr/doc/imgs_words_en/word_116.png"]], {"h": 48, "w": 192}),
    ("cls_48x192_b4", "cls", [
        ["paddleocr/doc/imgs_words_en/word_308.png"],
        ["paddleocr/doc/imgs_words_en/word_10.png"],
        ["paddleocr/doc/imgs_words_en/word_52.png"],
        ["cnocr/examples/rand_cn1.png"],
    ], {"h": 48, "w": 192}),
]

MODEL_FILES = {
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}


def load_bgr(path):
    """Decodes a PNG to BGR u8 (the models take BGR); an alpha channel is dropped."""
    im = Image.open(path)
    if im.mode not in ("RGB", "RGBA"):
        sys.exit(f"{path}: fixtures use RGB/RGBA PNGs only (got {im.mode})")
    return np.asarray(im)[:, :, :3][:, :, ::-1]


def resize_nearest(img, h, w):
    """Integer nearest-neighbour resize: source index = dst * in // out (reproducible exactly)."""
    ih, iw = img.shape[:2]
    ys = (np.arange(h) * ih) // h
    xs = (np.arange(w) * iw) // w
    return img[ys][:, xs]


def aspect_width(img, h):
    """Width an image gets at height h keeping its aspect ratio."""
    ih, iw = img.shape[:2]
    return int(np.ceil(h * iw / ih))


def line_image(paths, h, w):
    """A text line at height h: the segments side by side, each resized to height h keeping its
    aspect ratio; then, as PP-OCR does, squeezed to width w if wider. Returns (pixels, width)."""
    segs = []
    for p in paths:
        img = load_bgr(os.path.join(DEV, p))
        segs.append(resize_nearest(img, h, aspect_width(img, h)))
    line = np.concatenate(segs, axis=1)
    rw = min(w, line.shape[1])
    return resize_nearest(line, h, rw), rw


def normalise(img, mean, std):
    x = img.astype(np.float32) / np.float32(255.0)
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return x.transpose(2, 0, 1)


def build_input(kind, paths, spec):
    h, w = spec["h"], spec["w"]
    batch, widths = [], []
    for segments in paths:
        if kind == "det":
            img = load_bgr(os.path.join(DEV, segments[0]))
            batch.append(normalise(resize_nearest(img, h, w), DET_MEAN, DET_STD))
            widths.append(w)
        else:
            px, rw = line_image(segments, h, w)
            x = np.zeros((3, h, w), np.float32)  # zero after normalisation = padding
            x[:, :, :rw] = normalise(px, LINE_MEAN, LINE_STD)
            batch.append(x)
            widths.append(rw)
    return np.ascontiguousarray(np.stack(batch)), widths


def main():
    index = []
    sessions = {}
    for case, kind, paths, spec in CASES:
        if kind not in sessions:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            sessions[kind] = ort.InferenceSession(os.path.join(MODELS, MODEL_FILES[kind]), opts, providers=["CPUExecutionProvider"])
        x, widths = build_input(kind, paths, spec)
        y = sessions[kind].run(None, {"x": x})[0]
        arrays = {"probs_u16": np.round(np.clip(y, 0, 1) * 65535).astype(np.uint16)}
        if kind in ("rec", "cls"):
            arrays["argmax"] = y.argmax(-1).astype(np.int32)
        np.savez_compressed(os.path.join(HERE, f"{case}.npz"), **arrays)
        index.append({"case": case, "model": kind, "images": paths, "height": spec["h"], "width": spec["w"], "resized_widths": widths, "output_shape": list(y.shape), "tolerance": spec.get("tol", 1e-4)})
        print(f"{case}: input {x.shape} -> output {y.shape}")
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump({"generator": "onnxruntime " + ort.__version__, "quantisation": "u16 = round(p * 65535)", "cases": index}, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
