#!/usr/bin/env python3
"""The onnxruntime reference pipeline: the same three source models run the standard PP-OCR way
(OpenCV preprocessing, DB post-processing with pyclipper, perspective crops, 0/180 classifier,
batched CTC recognition) in Python with onnxruntime. It is a peer for comparison only; Kestrel
never depends on it.

It writes predictions in the format `kestrel eval --predictions` scores, so both engines are
scored by the same code:

    python3 benches/reference_pipeline.py ../shared/eval/dev -o /tmp/ref.jsonl
    kestrel eval ../shared/eval/dev --predictions /tmp/ref.jsonl

The detection size policy is Kestrel's (longest side at most 960, never upscaled, sides rounded
to multiples of 32) so that the comparison measures the engines, not the policy.

`--mode ppocr` (default) is the standard PP-OCR algorithm: the peer Kestrel's accuracy is compared
with. `--mode kestrel` adds, written independently here, the three places where Kestrel
deliberately differs: transparent images composited over white, long lines classified on 4:1
windows, and reading order by row anchors. It checks that Kestrel computes what it means to:
`kestrel read` must match it page by page.
Needs: numpy opencv-python-headless pyclipper onnxruntime.
"""
import argparse
import glob
import json
import math
import os
import time

import cv2
import numpy as np
import onnxruntime as ort
import pyclipper

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MODELS = os.path.normpath(os.path.join(ROOT, "..", "shared", "models-src"))


def session(name, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    return ort.InferenceSession(os.path.join(MODELS, name), o, providers=["CPUExecutionProvider"])


class Reference:
    def __init__(self, threads=1, max_side=960, mode="ppocr"):
        self.mode = mode
        self.det = session("ch_PP-OCRv4_det_infer.onnx", threads)
        self.rec = session("ch_PP-OCRv4_rec_infer.onnx", threads)
        self.cls = session("ch_ppocr_mobile_v2.0_cls_infer.onnx", threads)
        with open(os.path.join(MODELS, "ppocr_keys_v1.txt"), encoding="utf-8") as f:
            self.chars = [""] + [l.rstrip("\r\n") for l in f] + [" "]
        self.max_side = max_side

    # -- detection -------------------------------------------------------------------------
    def det_size(self, w, h):
        scale = min(max(self.max_side, 32) / max(w, h), 1.0)
        r = lambda v: max(int(round(v * scale / 32)) * 32, 32)
        return r(w), r(h)

    def detect(self, img):
        h, w = img.shape[:2]
        tw, th = self.det_size(w, h)
        x = cv2.resize(img, (tw, th), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
        prob = self.det.run(None, {"x": x.transpose(2, 0, 1)[None]})[0][0, 0]
        return self.db_boxes(prob, w, h)

    @staticmethod
    def mini_box(contour):
        rect = cv2.minAreaRect(contour)
        pts = sorted(list(cv2.boxPoints(rect)), key=lambda p: p[0])
        i1, i4 = (0, 1) if pts[1][1] > pts[0][1] else (1, 0)
        i2, i3 = (2, 3) if pts[3][1] > pts[2][1] else (3, 2)
        return np.array([pts[i1], pts[i2], pts[i3], pts[i4]]), min(rect[1])

    @staticmethod
    def box_score(prob, box):
        h, w = prob.shape
        xmin = np.clip(np.floor(box[:, 0].min()).astype(int), 0, w - 1)
        xmax = np.clip(np.ceil(box[:, 0].max()).astype(int), 0, w - 1)
        ymin = np.clip(np.floor(box[:, 1].min()).astype(int), 0, h - 1)
        ymax = np.clip(np.ceil(box[:, 1].max()).astype(int), 0, h - 1)
        mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), np.uint8)
        b = box.copy()
        b[:, 0] -= xmin
        b[:, 1] -= ymin
        cv2.fillPoly(mask, b.reshape(1, -1, 2).astype(np.int32), 1)
        return cv2.mean(prob[ymin:ymax + 1, xmin:xmax + 1], mask)[0]

    def db_boxes(self, prob, w, h, thresh=0.3, box_thresh=0.6, ratio=1.5, min_size=3):
        bitmap = (prob > thresh).astype(np.uint8)
        contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        ph, pw = prob.shape
        out = []
        for c in contours[:1000]:
            box, sside = self.mini_box(c)
            if sside < min_size or self.box_score(prob, box) < box_thresh:
                continue
            poly = box
            dist = cv2.contourArea(poly.astype(np.float32)) * ratio / cv2.arcLength(poly.astype(np.float32), True)
            off = pyclipper.PyclipperOffset()
            off.AddPath(poly.astype(np.int64).tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
            expanded = off.Execute(dist)
            if len(expanded) != 1:
                continue
            box, sside = self.mini_box(np.array(expanded[0]).reshape(-1, 1, 2).astype(np.float32))
            if sside < min_size + 2:
                continue
            box[:, 0] = np.clip(np.round(box[:, 0] / pw * w), 0, w)
            box[:, 1] = np.clip(np.round(box[:, 1] / ph * h), 0, h)
            if int(np.linalg.norm(box[0] - box[1])) <= 3 or int(np.linalg.norm(box[0] - box[3])) <= 3:
                continue
            out.append(box.astype(np.float32))
        if self.mode == "kestrel":
            return self.row_order(out)
        # PP-OCR's reading order: by top, then swap neighbours on the same 10-pixel band.
        out = sorted(out, key=lambda b: (b[0][1], b[0][0]))
        for i in range(len(out) - 1):
            for j in range(i, -1, -1):
                if abs(out[j + 1][0][1] - out[j][0][1]) < 10 and out[j + 1][0][0] < out[j][0][0]:
                    out[j], out[j + 1] = out[j + 1], out[j]
                else:
                    break
        return out

    @staticmethod
    def row_order(boxes):
        """Rows around anchors: a box joins a row (one of the last three) when each of the box
        and the row's anchor contains the other's vertical centre; left to right within rows."""
        span = lambda b: (float(b[:, 1].min()), float(b[:, 1].max()))
        left = lambda b: float(b[:, 0].min())
        boxes = sorted(boxes, key=lambda b: (span(b)[0], left(b)))
        rows = []
        for b in boxes:
            t, u = span(b)
            for anchor, members in reversed(rows[-3:]):
                at, au = anchor
                if at <= (t + u) / 2 <= au and t <= (at + au) / 2 <= u:
                    members.append(b)
                    break
            else:
                rows.append(((t, u), [b]))
        return [b for _, members in rows for b in sorted(members, key=left)]

    # -- crops, classifier, recogniser -----------------------------------------------------
    @staticmethod
    def crop(img, pts):
        w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
        h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
        w, h = max(w, 1), max(h, 1)
        dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        m = cv2.getPerspectiveTransform(pts.astype(np.float32), dst)
        c = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
        if c.shape[0] / c.shape[1] >= 1.5:
            c = np.rot90(c)
        return c

    @staticmethod
    def norm_line(img, w_target, h=48):
        ih, iw = img.shape[:2]
        rw = min(w_target, int(math.ceil(h * iw / ih)))
        x = cv2.resize(img, (max(rw, 1), h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        x = (x - 0.5) / 0.5
        out = np.zeros((3, h, w_target), np.float32)
        out[:, :, :rw] = x.transpose(2, 0, 1)
        return out

    def windows(self, c):
        h, w = c.shape[:2]
        win = 4 * h
        if self.mode != "kestrel" or w <= win + win // 2:
            return [c]
        return [c[:, x:x + win] for x in (0, (w - win) // 2, w - win)]

    def classify(self, crops, thresh=0.9):
        items = [(i, win) for i, c in enumerate(crops) for win in self.windows(c)]
        p180 = [[] for _ in crops]
        for s in range(0, len(items), 6):
            batch = np.stack([self.norm_line(win, 192) for _, win in items[s:s + 6]])
            prob = self.cls.run(None, {"x": batch})[0]
            for (i, _), p in zip(items[s:s + 6], prob):
                p180[i].append((p[1], p.argmax() == 1))
        for i, ps in enumerate(p180):
            if self.mode == "kestrel":
                flip = np.mean([p for p, _ in ps]) > thresh
            else:
                flip = ps[0][1] and ps[0][0] > thresh
            if flip:
                crops[i] = cv2.rotate(np.ascontiguousarray(crops[i]), cv2.ROTATE_180)
        return crops

    def recognize(self, crops):
        order = np.argsort([c.shape[1] / c.shape[0] for c in crops])
        texts = [""] * len(crops)
        for s in range(0, len(crops), 6):
            idx = order[s:s + 6]
            ratio = max([320 / 48] + [crops[i].shape[1] / crops[i].shape[0] for i in idx])
            w = int(48 * ratio)
            batch = np.stack([self.norm_line(crops[i], w) for i in idx])
            prob = self.rec.run(None, {"x": batch})[0]
            for k, i in enumerate(idx):
                best = prob[k].argmax(-1)
                keep = [c for t, c in enumerate(best) if c != 0 and (t == 0 or c != best[t - 1])]
                texts[i] = "".join(self.chars[c] for c in keep)
        return texts

    def read(self, img):
        boxes = self.detect(img)
        crops = self.classify([self.crop(img, b) for b in boxes])
        return boxes, self.recognize(crops) if crops else []

    def read_line(self, img):
        c = np.rot90(img) if img.shape[0] / img.shape[1] >= 1.5 else img
        return self.recognize(self.classify([c]))[0]


def load(path, mode):
    """BGR pixels; in kestrel mode, transparent images are composited over white."""
    raw = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        return None
    if raw.ndim == 2:
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
    if raw.shape[2] == 4:
        if mode == "kestrel":
            a = raw[:, :, 3:4].astype(np.uint32)
            return ((raw[:, :, :3].astype(np.uint32) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
        return raw[:, :, :3].copy()
    return raw[:, :, :3]


def records(paths):
    files = []
    for p in paths:
        files += [p] if os.path.isfile(p) else sorted(glob.glob(os.path.join(p, "**", "manifest.jsonl"), recursive=True))
    for f in files:
        d = os.path.dirname(f)
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    yield os.path.basename(d), d, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tasks", default="line,plate,page,detect")
    ap.add_argument("--mode", choices=["ppocr", "kestrel"], default="ppocr")
    a = ap.parse_args()
    ref = Reference(a.threads, mode=a.mode)
    tasks = set(a.tasks.split(","))
    n = 0
    with open(a.output, "w", encoding="utf-8") as out:
        for source, d, r in records(a.paths):
            if r["task"] not in tasks:
                continue
            pred = {"key": f"{source}/{r['image']}", "lines": [], "boxes": []}
            t = time.perf_counter()
            img = load(os.path.join(d, r["image"]), a.mode)
            if img is None:
                pred["error"] = "cannot decode"
            elif r["task"] in ("line", "plate") and "scene photo" not in r.get("note", ""):
                pred["lines"] = [ref.read_line(img)]
            elif r["task"] == "detect":
                pred["boxes"] = [b.tolist() for b in ref.detect(img)]
            else:
                boxes, texts = ref.read(img)
                pred["boxes"], pred["lines"] = [b.tolist() for b in boxes], texts
            pred["ms"] = (time.perf_counter() - t) * 1e3
            out.write(json.dumps(pred, ensure_ascii=False) + "\n")
            n += 1
    print(f"{n} predictions written to {a.output}")


if __name__ == "__main__":
    main()
