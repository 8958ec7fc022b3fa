#!/usr/bin/env python3
"""An experiment, not the recipe of any committed model: quantisation-aware fine-tuning of the
whole PP-OCRv4 recogniser to fewer weight bits, distilled from its own fp32 outputs.

GPTQ rounding alone stops at about 6 bits for most of the recogniser (models/README.md, "Size
against accuracy with GPTQ"); the head-only distillation (models/train/rec-head) showed that
training recovers what rounding loses, with the rest of the network frozen. Here every weight
of the network trains: the ONNX graph is run by a small torch interpreter (the ops this model
uses, nothing more) in which the weights of the convolutions and constant matrix products are
fake-quantised to per-output-channel BITS-bit levels (the scheme of `kestrel convert --gptq
--weight-bits/--matmul-bits`: codes `-(2^(B-1)-1)..=2^(B-1)-1`, scale `max |w| / levels`;
depthwise convolutions, which compute in fp32 and are stored as 8-bit codes, at 8), with a
straight-through gradient. The teacher is the fp32 network's class distribution at every time
step (no labels are read) on synthetic lines (`kestrel synth lines`, a seed used nowhere else)
and on the recogniser's documented dev calibration crops (which `kestrel eval` never scores).
The result is an ONNX model whose weights lie on the grid, so `kestrel convert --int8 --gptq
--weight-bits B --matmul-bits B` keeps them (GPTQ's clip search finds them exact).

    kestrel synth lines -o target/qat/lines --count 3000 --seed 5601
    python3 models/train/rec-qat/qat_rec.py --lines target/qat/lines --bits 4 \\
        --steps 500 --lr 2e-4 --out target/qat/rec-qat4.onnx
    kestrel convert target/qat/rec-qat4.onnx --kind rec --int8 --calib CALIB... \\
        --calib-method mse --int8-matmul --gptq --weight-bits 4 --matmul-bits 4 -o rec4.kmod
    kestrel compress rec4.kmod --fp32-weight-bits 8 -o rec4-coded.kmod

(CALIB: the recogniser's calibration inputs of models/build_compact.sh.) To start from GPTQ's
rounding instead of the fp32 weights, export it and the fp32 conversion's weights (which show
what the converter folds into each layer) with the `export_weights` example of ocr-models and
pass `--start DIR --folded DIR`; with no training steps this round trip reproduces GPTQ's
accuracy (models/README.md).

Measured (models/README.md, "Size against accuracy with GPTQ"): from nearest rounding, worse
than GPTQ alone at the same bits; from GPTQ's rounding (below), 150 steps at 3e-5 better than
it (line CER 21.23 against 23.37), still far from fp32.

Needs the pinned environment of models/train/rec-head/requirements.txt (not a product
dependency). Deterministic for a seed on one machine (2 CPU threads).
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image

# The line lists of the head-only experiment (same data sources).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rec-head"))
from distill_head import calibration_lines, synthetic_lines  # noqa: E402

WIDTH = 320


def line_tensor(path):
    """One line as the recogniser's input, 48 x WIDTH: BGR, width by aspect (at most WIDTH),
    (v / 255 - 0.5) / 0.5, padded right with zeros as PP-OCR pads its training lines."""
    im = Image.open(path).convert("RGB")
    w = max(8, min(WIDTH, int(math.ceil(48 * im.width / im.height))))
    x = np.asarray(im.resize((w, 48), Image.BILINEAR), dtype=np.float32)[:, :, ::-1] / 255.0
    out = np.zeros((3, 48, WIDTH), np.float32)
    out[:, :, :w] = ((x - 0.5) / 0.5).transpose(2, 0, 1)
    return out


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def ints(t):
    return [int(v) for v in t.reshape(-1).tolist()]


class Interpreter(torch.nn.Module):
    """Runs the ONNX graph with torch ops; float constants of more than one element are
    parameters, and the weights of convolutions and constant matrix products are
    fake-quantised to `bits` (per output channel) when `bits` is set for them."""

    def __init__(self, model):
        super().__init__()
        self.graph = model.graph
        self.params = torch.nn.ParameterDict()
        self.fixed = {}
        self.key = {}
        for n in model.graph.node:
            if n.op_type != "Constant":
                continue
            value = numpy_helper.to_array(attr(n, "value")).copy()
            t = torch.from_numpy(value)
            if t.dtype == torch.float32 and t.numel() > 1:
                key = f"p{len(self.params)}"
                self.params[key] = torch.nn.Parameter(t)
                self.key[n.output[0]] = key
            else:
                self.fixed[n.output[0]] = t
        # Quantised weights: name -> (levels, axis).
        self.quant = {}
        self.output = model.graph.output[0].name
        softmax = next(n for n in model.graph.node if n.output[0] == self.output)
        assert softmax.op_type == "Softmax"
        self.logits = softmax.input[0]
        # Each value's last reader: the interpreter drops values after it (keeping every
        # intermediate of a batch alive takes gigabytes).
        self.last_use = {}
        for k, n in enumerate(model.graph.node):
            for v in n.input:
                self.last_use[v] = k

    def plan(self, bits):
        """Which weights are fake-quantised, and to how many levels."""
        for n in self.graph.node:
            if n.op_type == "Conv" and n.input[1] in self.key:
                w = self.params[self.key[n.input[1]]]
                depthwise = attr(n, "group", 1) > 1 and w.shape[1] == 1
                b = 8 if depthwise else bits
                self.quant[n.input[1]] = (2 ** (b - 1) - 1, 0)
            elif n.op_type == "MatMul" and n.input[1] in self.key:
                self.quant[n.input[1]] = (2 ** (bits - 1) - 1, 1)

    def start_from(self, folder, folded):
        """Sets the quantised weights to those in `folder` (`<node name>.npy`, as the
        `export_weights` example writes a converted model's: GPTQ's rounding). The converter
        folds per-channel factors into a layer's weights (batch normalisation, the scale of a
        learnable affine block after it); `folded` holds the fp32 conversion's weights, whose
        ratio to the source's gives each output channel's factor exactly, and the channel is
        divided by it (it stays on its grid, with its scale divided by the factor)."""
        loaded = 0
        for n in self.graph.node:
            path = os.path.join(folder, n.name + ".npy")
            if n.op_type not in ("Conv", "MatMul") or not os.path.exists(path):
                continue
            p = self.params[self.key[n.input[1]]]
            w = torch.from_numpy(np.load(path))
            ref = torch.from_numpy(np.load(os.path.join(folded, n.name + ".npy")))
            assert p.shape == w.shape == ref.shape, (n.name, p.shape, w.shape, ref.shape)
            axis = 0 if n.op_type == "Conv" else 1
            dims = [d for d in range(w.dim()) if d != axis]
            src = p.detach()
            factor = (ref * src).sum(dims, keepdim=True) / (src * src).sum(dims, keepdim=True)
            factor = torch.where(factor.abs() > 1e-12, factor, torch.ones_like(factor))
            with torch.no_grad():
                p.copy_(w / factor)
            loaded += 1
        return loaded

    def weight(self, name, quantised):
        w = self.params[self.key[name]]
        if not quantised or name not in self.quant:
            return w
        levels, axis = self.quant[name]
        dims = [d for d in range(w.dim()) if d != axis]
        scale = w.detach().abs().amax(dim=dims, keepdim=True).clamp_min(1e-12) / levels
        q = (w / scale).round().clamp(-levels, levels) * scale
        return w + (q - w).detach()

    def forward(self, x, quantised=True):
        env = {self.graph.input[0].name: x}

        def get(name):
            if name == "":
                return None
            if name in env:
                return env[name]
            if name in self.key:
                return self.weight(name, quantised)
            return self.fixed[name]

        for k, n in enumerate(self.graph.node):
            op = n.op_type
            if op == "Constant":
                continue
            i = [get(v) for v in n.input]
            for v in n.input:
                if self.last_use.get(v) == k:
                    env.pop(v, None)
            if op == "Conv":
                pads = attr(n, "pads", [0, 0, 0, 0])
                y = F.conv2d(
                    F.pad(i[0], (pads[1], pads[3], pads[0], pads[2])),
                    i[1], i[2] if len(i) > 2 else None,
                    stride=attr(n, "strides", [1, 1]), dilation=attr(n, "dilations", [1, 1]),
                    groups=attr(n, "group", 1))
            elif op == "BatchNormalization":
                y = F.batch_norm(i[0], i[3].detach(), i[4].detach(), i[1], i[2], False, 0.0,
                                 attr(n, "epsilon", 1e-5))
            elif op == "Mul":
                y = i[0] * i[1]
            elif op == "Add":
                y = i[0] + i[1]
            elif op == "Sub":
                y = i[0] - i[1]
            elif op == "Div":
                y = i[0] / i[1]
            elif op == "Pow":
                y = i[0] ** i[1]
            elif op == "Sqrt":
                y = torch.sqrt(i[0])
            elif op == "Clip":
                lo = i[1] if len(i) > 1 and i[1] is not None else None
                hi = i[2] if len(i) > 2 and i[2] is not None else None
                y = torch.clamp(i[0], None if lo is None else float(lo), None if hi is None else float(hi))
            elif op == "Cast":
                to = attr(n, "to")
                y = i[0].to({1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool}[to])
            elif op == "MatMul":
                y = torch.matmul(i[0], i[1])
            elif op == "Slice":
                data, starts, ends = i[0], ints(i[1]), ints(i[2])
                axes = ints(i[3]) if len(i) > 3 and i[3] is not None else list(range(len(starts)))
                steps = ints(i[4]) if len(i) > 4 and i[4] is not None else [1] * len(starts)
                idx = [slice(None)] * data.dim()
                for s, e, a, st in zip(starts, ends, axes, steps):
                    idx[a] = slice(s, min(e, data.shape[a]) if e >= 0 else e, st)
                y = data[tuple(idx)]
            elif op == "ReduceMean":
                axes = attr(n, "axes") or ints(i[1])
                y = i[0].mean(dim=axes, keepdim=bool(attr(n, "keepdims", 1)))
            elif op == "Transpose":
                y = i[0].permute(*attr(n, "perm"))
            elif op == "Sigmoid":
                y = torch.sigmoid(i[0])
            elif op == "Relu":
                y = F.relu(i[0])
            elif op == "HardSigmoid":
                y = torch.clamp(attr(n, "alpha", 0.2) * i[0] + attr(n, "beta", 0.5), 0, 1)
            elif op == "Concat":
                y = torch.cat(i, dim=attr(n, "axis"))
            elif op == "Squeeze":
                axes = attr(n, "axes") or (ints(i[1]) if len(i) > 1 else None)
                y = i[0]
                for a in sorted(axes, reverse=True):
                    y = y.squeeze(a)
            elif op == "Reshape":
                shape = ints(i[1])
                shape = [i[0].shape[k] if d == 0 else d for k, d in enumerate(shape)]
                y = i[0].reshape(shape)
            elif op == "Shape":
                y = torch.tensor(i[0].shape, dtype=torch.int64)
            elif op == "Softmax":
                y = torch.softmax(i[0], dim=attr(n, "axis", -1))
            elif op == "GlobalAveragePool":
                y = i[0].mean(dim=(2, 3), keepdim=True)
            elif op == "AveragePool":
                k = attr(n, "kernel_shape")
                pads = attr(n, "pads", [0, 0, 0, 0])
                y = F.avg_pool2d(F.pad(i[0], (pads[1], pads[3], pads[0], pads[2])), k,
                                 stride=attr(n, "strides", k))
            else:
                raise NotImplementedError(op)
            env[n.output[0]] = y
            if n.output[0] == self.logits:
                return y
        raise RuntimeError("no logits")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", default="../shared/models-src/ch_PP-OCRv4_rec_infer.onnx")
    ap.add_argument("--lines", required=True, help="a `kestrel synth lines` folder")
    ap.add_argument("--dev", default="../shared/eval/dev")
    ap.add_argument("--calib-split", default="models/calib/dev-calibration.txt")
    ap.add_argument("--calib-repeat", type=int, default=5)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", help="start from these weights (the export_weights example's "
                    "output for the GPTQ-rounded model) instead of the fp32 ones")
    ap.add_argument("--folded", help="with --start: export_weights' output for the fp32 "
                    "conversion (`kestrel convert --kind rec`), to undo the converter's folding")
    ap.add_argument("--check", action="store_true", help="compare with onnxruntime and stop")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    model = onnx.load(args.onnx)
    net = Interpreter(model)
    net.plan(args.bits)
    print(f"{len(net.params)} parameter tensors, {len(net.quant)} fake-quantised")

    paths = synthetic_lines(args.lines)
    real = calibration_lines(args.calib_split, args.dev)
    data = torch.from_numpy(np.stack([line_tensor(p) for p in paths + real * args.calib_repeat]))
    order = torch.randperm(len(data))
    val, train = data[order[:128]], data[order[128:]]
    print(f"{len(paths)} synthetic and {len(real)} calibration lines x {args.calib_repeat}; "
          f"{len(train)} to train on, {len(val)} held out")

    if args.check:
        import onnxruntime as ort
        s = ort.InferenceSession(args.onnx)
        want = s.run(None, {s.get_inputs()[0].name: val[:4].numpy()})[0]
        with torch.no_grad():
            got = torch.softmax(net(val[:4], quantised=False), -1).numpy()
        print(f"fp32 interpreter vs onnxruntime: max |diff| {np.abs(got - want).max():.2e}")
        return

    teacher = {k: p.detach().clone() for k, p in net.params.items()}
    if args.start:
        print(f"{net.start_from(args.start, args.folded)} weight tensors from {args.start}")

    def with_teacher(fn):
        saved = {k: p.detach().clone() for k, p in net.params.items()}
        with torch.no_grad():
            for k, p in net.params.items():
                p.copy_(teacher[k])
        try:
            return fn()
        finally:
            with torch.no_grad():
                for k, p in net.params.items():
                    p.copy_(saved[k])

    with torch.no_grad():
        val_teacher = with_teacher(lambda: net(val, quantised=False)).argmax(-1)

    def agreement():
        """The share of held-out time steps, and of those where fp32 reads a character (not
        the blank), at which the student's class is fp32's."""
        with torch.no_grad():
            same = net(val).argmax(-1) == val_teacher
            chars = val_teacher != 0
            return f"{same.float().mean().item():.4f} / {same[chars].float().mean().item():.4f}"

    print(f"nearest rounding at {args.bits} bits: {agreement()} of held-out steps (all / "
          f"characters) keep fp32's class")
    opt = torch.optim.Adam(net.params.values(), lr=args.lr)
    t0 = time.time()
    for step in range(args.steps):
        idx = torch.randint(len(train), (args.batch,))
        x = train[idx]
        with torch.no_grad():
            target = torch.softmax(with_teacher(lambda: net(x, quantised=False)), -1)
        loss = -(target * torch.log_softmax(net(x), -1)).sum(-1).mean()
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step}: loss {loss.item():.4f}, held-out agreement {agreement()}, "
                  f"{time.time() - t0:.0f} s", flush=True)

    producer = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant"}
    with torch.no_grad():
        for name in net.key:
            value = net.weight(name, True).numpy().astype(np.float32)
            tensor = attr(producer[name], "value")
            producer[name].attribute[0].t.CopyFrom(numpy_helper.from_array(value, tensor.name))
    onnx.save(model, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
