"""The PP-OCR ONNX graphs as a differentiable PyTorch module, for fine-tuning (a training tool,
not a product dependency).

Runs the graph node by node with torch operations, so that every weight of the ONNX file (its
float constants) is a trainable parameter under its ONNX name and can be written back into the
same file. Covers the operators the PP-OCRv4 recogniser uses (opset 12). Each convolution can be
given a hook that rewrites its input and weight before it runs, and each MatMul with a constant
weight one that rewrites the weight (fake quantisation).
"""

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

_CAST = {1: torch.float32, 6: torch.int32, 7: torch.int64}


class OnnxNet(torch.nn.Module):
    """An ONNX graph whose float constants (except the exporter's scalar helpers) are
    parameters, named after the constants (dots become '/')."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        self.model = model
        self.nodes = [n for n in model.graph.node if n.op_type != "Constant"]
        self.input_name = model.graph.input[0].name
        self.output_name = model.graph.output[0].name
        self.fixed = {}
        self.params = torch.nn.ParameterDict()
        for n in model.graph.node:
            if n.op_type != "Constant":
                continue
            value = numpy_helper.to_array(n.attribute[0].t).copy()
            name = n.output[0]
            if value.dtype == np.float32 and not name.startswith("p2o.helper"):
                self.params[self.key(name)] = torch.nn.Parameter(torch.from_numpy(value))
            else:
                self.fixed[name] = torch.from_numpy(value)
        # conv node name -> callable(x, w) -> (x, w); empty for plain fp32.
        self.conv_hooks = {}
        # MatMul node name -> callable(w) -> w, for MatMuls with a constant second input.
        self.matmul_hooks = {}
        # Values to return besides the output (e.g. the logits before the final Softmax).
        self.taps = set()

    @staticmethod
    def key(name):
        return name.replace(".", "/")

    def value(self, env, name):
        if name == "":
            return None
        if name in env:
            return env[name]
        if name in self.fixed:
            return self.fixed[name]
        return self.params[self.key(name)]

    def forward(self, x):
        env = {self.input_name: x}
        tapped = {}
        for n in self.nodes:
            ins = [self.value(env, i) for i in n.input]
            y = self.run_node(n, ins)
            env[n.output[0]] = y
            if n.output[0] in self.taps:
                tapped[n.output[0]] = y
        return env[self.output_name], tapped

    def run_node(self, n, ins):
        a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
        op = n.op_type
        if op == "Conv":
            x, w = ins[0], ins[1]
            b = ins[2] if len(ins) > 2 else None
            hook = self.conv_hooks.get(n.name)
            if hook is not None:
                x, w = hook(x, w)
            pads = a.get("pads", [0, 0, 0, 0])
            assert pads[0] == pads[2] and pads[1] == pads[3], n.name
            return F.conv2d(
                x,
                w,
                b,
                a.get("strides", [1, 1]),
                pads[:2],
                a.get("dilations", [1, 1]),
                a.get("group", 1),
            )
        if op == "BatchNormalization":
            x, scale, bias, mean, var = ins
            # Running statistics are not trained (they fold into the convolution like the scale).
            return F.batch_norm(
                x, mean.detach(), var.detach(), scale, bias, False, 0.0, a.get("epsilon", 1e-5)
            )
        if op == "Add":
            return ins[0] + ins[1]
        if op == "Sub":
            return ins[0] - ins[1]
        if op == "Mul":
            return ins[0] * ins[1]
        if op == "Div":
            return ins[0] / ins[1]
        if op == "Pow":
            return torch.pow(ins[0], ins[1])
        if op == "Sqrt":
            return torch.sqrt(ins[0])
        if op == "Clip":
            lo = ins[1] if len(ins) > 1 else None
            hi = ins[2] if len(ins) > 2 else None
            return torch.clamp(
                ins[0], None if lo is None else float(lo), None if hi is None else float(hi)
            )
        if op == "Relu":
            return F.relu(ins[0])
        if op == "Sigmoid":
            return torch.sigmoid(ins[0])
        if op == "HardSigmoid":
            return torch.clamp(a.get("alpha", 0.2) * ins[0] + a.get("beta", 0.5), 0.0, 1.0)
        if op == "GlobalAveragePool":
            return ins[0].mean(dim=(2, 3), keepdim=True)
        if op == "AveragePool":
            assert not a.get("ceil_mode", 0) and not any(a.get("pads", [0])), n.name
            return F.avg_pool2d(ins[0], a["kernel_shape"], a["strides"])
        if op == "MatMul":
            hook = self.matmul_hooks.get(n.name)
            return torch.matmul(ins[0], ins[1] if hook is None else hook(ins[1]))
        if op == "Transpose":
            return ins[0].permute(*a["perm"])
        if op == "ReduceMean":
            return ins[0].mean(dim=a["axes"], keepdim=bool(a.get("keepdims", 1)))
        if op == "Softmax":
            axis = a.get("axis", 1) % ins[0].dim()
            assert axis == ins[0].dim() - 1, n.name
            return torch.softmax(ins[0], axis)
        if op == "Squeeze":
            y = ins[0]
            for axis in sorted((ax % y.dim() for ax in a["axes"]), reverse=True):
                y = y.squeeze(axis)
            return y
        if op == "Shape":
            return torch.tensor(ins[0].shape, dtype=torch.int64)
        if op == "Cast":
            return ins[0].to(_CAST[a["to"]])
        if op == "Concat":
            return torch.cat([t.reshape(-1) if t.dim() == 0 else t for t in ins], a["axis"])
        if op == "Slice":
            x, starts, ends = ins[0], ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else torch.arange(len(starts))
            steps = (
                ins[4]
                if len(ins) > 4 and ins[4] is not None
                else torch.ones(len(starts), dtype=torch.int64)
            )
            index = [slice(None)] * x.dim()
            for s, e, ax, st in zip(starts.tolist(), ends.tolist(), axes.tolist(), steps.tolist()):
                index[ax % x.dim()] = slice(int(s), int(min(e, 2**62)), int(st))
            return x[tuple(index)]
        if op == "Reshape":
            x, shape = ins[0], [int(v) for v in ins[1].tolist()]
            shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
            return x.reshape(shape)
        raise NotImplementedError(f"{op} ({n.name})")

    def write_back(self):
        """The ONNX model with this module's current parameters as its constants."""
        out = onnx.ModelProto()
        out.CopyFrom(self.model)
        producer = {n.output[0]: n for n in out.graph.node if n.op_type == "Constant"}
        for key, p in self.params.items():
            name = key.replace("/", ".")
            t = producer[name].attribute[0].t
            t.CopyFrom(numpy_helper.from_array(p.detach().numpy().astype(np.float32), t.name))
        return out
