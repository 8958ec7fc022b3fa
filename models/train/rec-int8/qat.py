#!/usr/bin/env python3
"""An experiment, not the recipe of any committed model: quantisation-aware fine-tuning of the
PP-OCRv4 recogniser for Kestrel's int8 runtime. The fp32 model teaches a copy of itself that
runs with the runtime's int8 rounding simulated, so that the int8 model built from the copy
loses less against the fp32 one. Measured in models/README.md ("Quantisation-aware
fine-tuning").

What is simulated is what `kestrel convert --int8` builds (models/FORMAT.md, "int8
convolution"): every convolution's weights (depthwise ones only with --int8-depthwise) rounded
to symmetric per-output-channel int8 codes (-127..=127, scale max|w| / 127, recomputed as the
weights move), and its input rounded to 8-bit affine codes over a calibrated range (one range
per tensor; one per channel for depthwise convolutions), the range chosen by the converter's
MSE rule on the fp32 model's activations over the converter's calibration lines. The MatMuls
stay fp32, as in the runtime (unless --matmul-bits). Rounding passes gradients straight
through.

The teacher is the unchanged fp32 recogniser (no labels are read); the student starts from it
and learns, per time step, the class the teacher finds most likely (`--loss hard`, the default:
it also widens the student's margin where the teacher is nearly tied, which is where int8
rounding flips readings; `--loss soft` matches the teacher's 8 most likely classes instead),
over synthetic lines (`kestrel synth lines`, a seed that no calibration or measurement uses)
and the recogniser's documented dev calibration crops (models/calib/dev-calibration.txt, never
scored by `kestrel eval`; `--extra-split` adds another such split). The result is an ONNX
file of the same graph with fine-tuned weights, for `kestrel convert --int8` with the settings
of models/build_zoo.sh (or, with `--weight-bits` and `--matmul-bits`, of
models/build_compact.sh's `--gptq`).

    kestrel synth lines -o target/qat/lines --count 1500 --seed 5501
    python3 models/train/rec-int8/qat.py --lines target/qat/lines --out target/qat/rec-qat.onnx

(after models/calib/render.sh has rendered target/calib/lines). About 10 minutes on 2 cores.

Needs onnx, torch, numpy and Pillow (models/train/rec-int8/requirements.txt; a training
environment, not a product dependency). Deterministic for a seed on one machine (2 threads).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_net import OnnxNet  # noqa: E402

HEIGHT, MIN_WIDTH, MAX_WIDTH = 48, 320, 3200
ACT_MAX, WEIGHT_MAX = 255.0, 127.0
TOP_K = 8


def line_image(path):
    """One line as the recogniser sees it before padding: BGR, 48 high, width by aspect,
    (v / 255 - 0.5) / 0.5, channels first."""
    im = Image.open(path).convert("RGB")
    w = max(1, min(MAX_WIDTH, int(math.ceil(HEIGHT * im.width / max(1, im.height)))))
    x = np.asarray(im.resize((w, HEIGHT), Image.BILINEAR), dtype=np.float32)[:, :, ::-1] / 255.0
    return ((x - 0.5) / 0.5).transpose(2, 0, 1).copy()


def batches(images, size):
    """Batches of similar widths, each padded with zeros to its widest line (at least 320),
    as the engine batches lines."""
    order = sorted(range(len(images)), key=lambda i: images[i].shape[2])
    out = []
    for i in range(0, len(order), size):
        group = order[i : i + size]
        width = max(MIN_WIDTH, max(images[j].shape[2] for j in group))
        x = np.zeros((len(group), 3, HEIGHT, width), np.float32)
        for k, j in enumerate(group):
            x[k, :, :, : images[j].shape[2]] = images[j]
        out.append((group, torch.from_numpy(x)))
    return out


def calibration_inputs(images):
    """The converter's calibration inputs (services/src/calib.rs): one line each, padded with
    zeros to a multiple of 8 only."""
    out = []
    for im in images:
        x = np.zeros((1, 3, HEIGHT, -(-im.shape[2] // 8) * 8), np.float32)
        x[0, :, :, : im.shape[2]] = im
        out.append(([0], torch.from_numpy(x)))
    return out


def manifest_images(folder):
    with open(os.path.join(folder, "manifest.jsonl"), encoding="utf-8") as f:
        return [os.path.join(folder, json.loads(line)["image"]) for line in f]


def calibration_crops(split, dev, kinds=("rec",)):
    with open(split, encoding="utf-8") as f:
        rows = [line.split(maxsplit=1) for line in f if line.strip() and not line.startswith("#")]
    return [os.path.join(dev, path.strip()) for kind, path in rows if kind in kinds]


def mse_range(samples, lo, hi):
    """The converter's MSE rule (models/src/quantize.rs): shrink the upper end, then the lower
    end, by 1% steps up to 70%, keeping the range of least 8-bit rounding error."""
    samples = samples[:: max(1, len(samples) // 65536)]

    def err(lo, hi):
        scale = max((hi - lo) / ACT_MAX, 1e-38)
        zp = np.round(-lo / scale)
        q = np.clip(np.round(samples / scale) + zp, 0, ACT_MAX)
        return np.mean(((q - zp) * scale - samples) ** 2)

    factors = [1.0 - i * 0.01 for i in range(71)]
    hi = min((err(lo, hi * f), hi * f) for f in factors)[1]
    lo = min((err(lo * f, hi), lo * f) for f in factors)[1]
    return min(lo, 0.0), max(hi, 0.0)


def affine(lo, hi):
    scale = max((hi - lo) / ACT_MAX, 1e-38)
    return scale, float(np.clip(np.round(-lo / scale), 0, ACT_MAX))


def calibrate(net, convs, inputs):
    """Per convolution, its input's (scale, zero point): tensors of shape (1, C, 1, 1) for a
    depthwise convolution, scalars otherwise."""
    seen = {name: [] for name in convs}

    def recorder(name):
        def hook(x, w):
            seen[name].append(x.detach().transpose(0, 1).reshape(x.shape[1], -1).numpy())
            return x, w

        return hook

    net.conv_hooks = {name: recorder(name) for name in convs}
    with torch.no_grad():
        for _, x in inputs:
            net(x)
    net.conv_hooks = {}
    ranges = {}
    for name, depthwise in convs.items():
        a = np.concatenate(seen[name], axis=1)
        if depthwise:
            pairs = [affine(*mse_range(c, min(c.min(), 0.0), max(c.max(), 0.0))) for c in a]
            s, z = (torch.tensor([p[i] for p in pairs]).view(1, -1, 1, 1) for i in (0, 1))
        else:
            flat = a.reshape(-1)
            s, z = (
                torch.tensor(v)
                for v in affine(*mse_range(flat, min(flat.min(), 0.0), max(flat.max(), 0.0)))
            )
        ranges[name] = (s.float(), z.float())
    return ranges


def straight_through(x, rounded):
    return x + (rounded - x).detach()


def round_weights(w, bits, dims):
    """`w` on symmetric `bits`-bit levels, one scale (max |w| / levels) per slice along the
    axes not in `dims`: the converter's nearest rounding, and the grid of `--weight-bits` /
    `--matmul-bits`."""
    levels = 2.0 ** (bits - 1) - 1
    scale = w.detach().abs().amax(dim=dims, keepdim=True).clamp_min(1e-12) / levels
    return torch.clamp(torch.round(w / scale), -levels, levels) * scale


def fake_quant_hook(scale, zero_point, bits=8):
    def hook(x, w):
        q = torch.clamp(torch.round(x / scale) + zero_point, 0, ACT_MAX)
        x = straight_through(x, (q - zero_point) * scale)
        return x, straight_through(w, round_weights(w, bits, (1, 2, 3)))

    return hook


def matmul_hook(bits):
    """Per-column (output) rounding of a MatMul's constant weight, as `--matmul-bits`."""
    return lambda w: straight_through(w, round_weights(w, bits, (0,)))


def greedy(probs):
    """CTC greedy readings (class sequences) of a (N, T, C) batch."""
    out = []
    for row in probs.argmax(-1).tolist():
        seq, prev = [], 0
        for c in row:
            if c != prev and c != 0:
                seq.append(c)
            prev = c
        out.append(tuple(seq))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", default="../shared/models-src/ch_PP-OCRv4_rec_infer.onnx")
    ap.add_argument("--lines", required=True, help="a `kestrel synth lines` folder to train on")
    ap.add_argument(
        "--calib-lines",
        default="target/calib/lines",
        help="the converter's synthetic calibration lines (models/calib/render.sh)",
    )
    ap.add_argument("--dev", default="../shared/eval/dev")
    ap.add_argument("--calib-split", default="models/calib/dev-calibration.txt")
    ap.add_argument(
        "--calib-repeat", type=int, default=3, help="weight of the dev calibration crops"
    )
    ap.add_argument(
        "--held-out",
        type=int,
        default=100,
        help="synthetic lines kept out of training to watch agreement on",
    )
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument(
        "--int8-depthwise",
        action="store_true",
        help="simulate int8 depthwise convolutions too (`kestrel convert --int8-depthwise`); "
        "by default they stay fp32, as in the committed int8 models",
    )
    ap.add_argument(
        "--loss",
        choices=["soft", "hard"],
        default="hard",
        help="soft: cross-entropy with the teacher's top classes per step; hard: with its "
        "most likely class (sharpens the student where the teacher is nearly tied)",
    )
    ap.add_argument(
        "--train",
        choices=["all", "conv"],
        default="all",
        help="which weights move: every float constant, or only the convolutions' weights and "
        "biases",
    )
    ap.add_argument(
        "--weight-bits",
        type=int,
        default=8,
        help="the convolutions' weight levels (below 8: for the compact set, `kestrel convert "
        "--gptq --weight-bits B`); the written weights then lie on that grid",
    )
    ap.add_argument(
        "--matmul-bits",
        type=int,
        default=0,
        help="also round the MatMuls' constant weights to per-column B-bit levels (the compact "
        "set's `--matmul-bits B`); 0: they stay fp32",
    )
    ap.add_argument(
        "--extra-split",
        action="append",
        default=[],
        help="another documented split of dev crops that no score uses (e.g. "
        "models/train/bankcard/dev-train-split.txt), added like the calibration crops",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    model = onnx.load(args.onnx)
    net = OnnxNet(model)
    for p in net.params.values():
        p.requires_grad_(False)
    convs = {}
    for n in net.nodes:
        if n.op_type == "Conv":
            w = net.value({}, n.input[1])
            group = next((a.i for a in n.attribute if a.name == "group"), 1)
            depthwise = group > 1 and group == w.shape[0]
            if args.int8_depthwise or not depthwise:
                convs[n.name] = depthwise
    softmax = next(n for n in net.nodes if n.output[0] == net.output_name)
    assert softmax.op_type == "Softmax"
    net.taps = {softmax.input[0]}

    synthetic = [line_image(p) for p in manifest_images(args.lines)]
    real = [line_image(p) for p in calibration_crops(args.calib_split, args.dev)]
    calib = [line_image(p) for p in manifest_images(args.calib_lines)] + real
    for split in args.extra_split:
        real += [line_image(p) for p in calibration_crops(split, args.dev, ("rec", "card-rec"))]
    held_out = synthetic[: args.held_out]
    train_images = synthetic[args.held_out :] + real * args.calib_repeat
    sizes = (len(train_images), len(held_out), len(calib))
    print("%d training lines, %d held out, %d calibration lines" % sizes)

    t0 = time.time()
    ranges = calibrate(net, convs, calibration_inputs(calib))
    print(f"calibrated {len(ranges)} convolution inputs ({time.time() - t0:.0f} s)")

    # The teacher's top classes per step, computed once.
    train_batches = batches(train_images, args.batch)
    held_batches = batches(held_out, args.batch)
    teacher = []
    with torch.no_grad():
        for _, x in train_batches:
            p, _ = net(x)
            top = p.topk(TOP_K, dim=-1)
            teacher.append((top.values / top.values.sum(-1, keepdim=True), top.indices))
        held_teacher = [greedy(net(x)[0]) for _, x in held_batches]
    print(f"teacher outputs ({time.time() - t0:.0f} s)")

    hooks = {name: fake_quant_hook(*ranges[name], args.weight_bits) for name in convs}
    if args.matmul_bits:
        net.matmul_hooks = {
            n.name: matmul_hook(args.matmul_bits)
            for n in net.nodes
            if n.op_type == "MatMul" and net.key(n.input[1]) in net.params
        }
        print(f"{len(net.matmul_hooks)} MatMul weights at {args.matmul_bits} bits")

    def agreement():
        with torch.no_grad():
            same = sum(
                a == b
                for (_, x), t in zip(held_batches, held_teacher)
                for a, b in zip(greedy(net(x)[0]), t)
            )
        return same / len(held_out)

    net.conv_hooks = hooks
    print(f"before training: {agreement():.3f} of held-out lines read as fp32 reads them")
    conv_inputs = {i for n in net.nodes if n.op_type == "Conv" for i in n.input[1:]}
    trainable = [
        p
        for key, p in net.params.items()
        if args.train == "all" or key.replace("/", ".") in conv_inputs
    ]
    print(f"training {sum(p.numel() for p in trainable)} weights")
    for p in trainable:
        p.requires_grad_(True)
    opt = torch.optim.Adam(trainable, lr=args.lr)
    steps = args.epochs * len(train_batches)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    for epoch in range(args.epochs):
        order = rng.permutation(len(train_batches))
        total = 0.0
        for i in order:
            _, x = train_batches[i]
            target, index = teacher[i]
            _, tapped = net(x)
            logp = torch.log_softmax(tapped[softmax.input[0]], -1)
            if args.loss == "soft":
                loss = -(target * logp.gather(-1, index)).sum(-1).mean()
            else:
                loss = -logp.gather(-1, index[..., :1]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(
            f"epoch {epoch}: loss {total / len(train_batches):.4f}, "
            f"held-out agreement {agreement():.3f} ({time.time() - t0:.0f} s)"
        )

    # Write the weights on their grids, so the converter's rounding keeps them as they are.
    with torch.no_grad():
        for n in net.nodes:
            if n.op_type == "Conv" and n.name in convs and args.weight_bits < 8:
                w = net.params[net.key(n.input[1])]
                w.copy_(round_weights(w, args.weight_bits, (1, 2, 3)))
            if n.name in net.matmul_hooks:
                w = net.params[net.key(n.input[1])]
                w.copy_(round_weights(w, args.matmul_bits, (0,)))
    onnx.save(net.write_back(), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
