#!/usr/bin/env python3
"""An experiment, not the recipe of any committed model: distils the PP-OCRv4 recogniser's
120x6625 CTC head into fewer weight bits, the rest of the network frozen in fp32.

The head is a third of the recogniser's weights and where rounding alone stops working (at 3
bits GPTQ costs 6.7 points of line CER; models/README.md). Here the head's fp32 outputs teach a
copy whose weights are fake-quantised to per-column BITS-bit levels (the scheme of `kestrel
convert --gptq --matmul-bits`), with a straight-through gradient; the features it reads are the
fp32 network's, computed once with onnxruntime on synthetic lines (`kestrel synth lines`, a seed
used nowhere else) and on the recogniser's documented dev calibration crops (which `kestrel eval`
never scores; no labels are read: the teacher is the fp32 head). The result is written as an ONNX model whose head weights already lie on
the grid, so `kestrel convert ... --layer-bits p2o.MatMul.24=BITS` keeps them exactly.

    kestrel synth lines -o target/head/lines --count 1500 --seed 5501
    python3 models/train/rec-head/distill_head.py --lines target/head/lines \
        --bits 3 --epochs 30 --out target/head/rec-head3.onnx

Needs onnx, onnxruntime, torch, numpy and Pillow (a training environment, not a product
dependency). Deterministic for a seed on one machine (2 CPU threads).
"""

import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from PIL import Image

HEAD = "p2o.MatMul.24"


def line_tensor(path):
    """The recogniser's input for one line: BGR, 48 high, width by aspect in multiples of 8,
    (v / 255 - 0.5) / 0.5."""
    im = Image.open(path).convert("RGB")
    w = max(8, min(960, int(round(48 * im.width / im.height / 8)) * 8))
    x = np.asarray(im.resize((w, 48), Image.BILINEAR), dtype=np.float32)[:, :, ::-1] / 255.0
    return ((x - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()


def features(model, paths):
    """The head's input vectors (one per time step) of every line image in `paths`."""
    head = next(n for n in model.graph.node if n.name == HEAD)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(
        onnx.helper.make_tensor_value_info(head.input[0], onnx.TensorProto.FLOAT, None)
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    session = ort.InferenceSession(probe.SerializeToString(), opts)
    name = session.get_inputs()[0].name
    out = []
    for path in paths:
        v = session.run([head.input[0]], {name: line_tensor(path)})[0]
        out.append(v.reshape(-1, v.shape[-1]))
    return np.concatenate(out)


def synthetic_lines(folder):
    """The images of a `kestrel synth lines` folder."""
    with open(os.path.join(folder, "manifest.jsonl"), encoding="utf-8") as f:
        return [os.path.join(folder, json.loads(line)["image"]) for line in f]


def calibration_lines(split, dev):
    """The recogniser's documented dev calibration crops (plates and bank-card numbers), which
    `kestrel eval` never scores."""
    with open(split, encoding="utf-8") as f:
        rows = [line.split(maxsplit=1) for line in f if line.strip() and not line.startswith("#")]
    return [os.path.join(dev, path.strip()) for kind, path in rows if kind == "rec"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", default="../shared/models-src/ch_PP-OCRv4_rec_infer.onnx")
    ap.add_argument("--lines", required=True, help="a `kestrel synth lines` folder")
    ap.add_argument("--dev", default="../shared/eval/dev")
    ap.add_argument("--calib-split", default="models/calib/dev-calibration.txt")
    ap.add_argument(
        "--calib-repeat",
        type=int,
        default=10,
        help="weight of the dev calibration crops (plates, card numbers), which synthetic "
        "lines do not resemble",
    )
    ap.add_argument("--bits", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    levels = 2 ** (args.bits - 1) - 1

    model = onnx.load(args.onnx)
    producer = {o: n for n in model.graph.node for o in n.output}
    head = next(n for n in model.graph.node if n.name == HEAD)
    add = next(n for n in model.graph.node if head.output[0] in n.input)
    bias_name = next(i for i in add.input if i != head.output[0])

    def constant(name):
        return torch.from_numpy(numpy_helper.to_array(producer[name].attribute[0].t).copy())

    w0, b0 = constant(head.input[1]).float(), constant(bias_name).float()
    synthetic = features(model, synthetic_lines(args.lines))
    real = features(model, calibration_lines(args.calib_split, args.dev))
    feats = torch.from_numpy(np.concatenate([synthetic] + [real] * args.calib_repeat))
    order = torch.randperm(len(feats))
    val, train = feats[order[:4000]], feats[order[4000:]]
    print(f"{len(feats)} time steps ({len(train)} to train on, {len(val)} held out)")

    def fake_quant(w):
        scale = w.abs().amax(0, keepdim=True).clamp_min(1e-12) / levels
        return w + ((w / scale).round().clamp(-levels, levels) * scale - w).detach()

    def agreement(w, b):
        with torch.no_grad():
            teacher = (val @ w0 + b0).argmax(1)
            return ((val @ fake_quant(w) + b).argmax(1) == teacher).float().mean().item()

    w = torch.nn.Parameter(w0.clone())
    b = torch.nn.Parameter(b0.clone())
    print(f"nearest rounding: {agreement(w, b):.4f} of held-out steps keep fp32's class")
    opt = torch.optim.Adam([w, b], lr=args.lr)
    for epoch in range(args.epochs):
        order = torch.randperm(len(train))
        for i in range(0, len(train), 2048):
            x = train[order[i : i + 2048]]
            with torch.no_grad():
                target = torch.softmax(x @ w0 + b0, 1)
            loss = -(target * torch.log_softmax(x @ fake_quant(w) + b, 1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}, held-out agreement {agreement(w, b):.4f}")

    with torch.no_grad():
        trained = {head.input[1]: fake_quant(w).numpy(), bias_name: b.numpy()}
    for name, value in trained.items():
        tensor = producer[name].attribute[0].t
        tensor.CopyFrom(numpy_helper.from_array(value.astype(np.float32), tensor.name))
    onnx.save(model, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
