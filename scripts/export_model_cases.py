#!/usr/bin/python3
"""Exports small models in the styles of real ONNX deployments from PyTorch, with random
weights, as ONNX backend-test cases (model.onnx, test_data_set_0/input_K.pb, output_K.pb)
under tests/data/onnx_models/. The committed cases are what ctest runs; rerun this (Debian's
/usr/bin/python3 with python3-torch and python3-onnx) only to regenerate them.

  scripts/export_model_cases.py [OUT_DIR]

The styles:
  ocr_detector    PaddleOCR-like text detector: conv + batch norm + HardSigmoid, a
                  nearest and a bilinear Resize, ConvTranspose, weights as Constant nodes
  vad_lstm        wake-word / VAD-like: LSTM over log features, an If on a run-time
                  condition (a scripted branch), int64 scalars
  gru_tagger      a GRU sequence model with a linear head and log-softmax
  convnext_block  EfficientNet/ConvNeXt-like: depthwise conv, LayerNormalization over
                  channels, SiLU, squeeze-excitation
  local_function  a model-local function (FunctionProto) called twice, once with its
                  attribute and optional input, once with neither;
                  the expected output computed with numpy
"""
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

torch.manual_seed(7)
np.random.seed(7)


class OcrDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.Hardsigmoid())
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.lateral = nn.Conv2d(16, 8, 1)
        self.head = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.ConvTranspose2d(8, 4, 2, stride=2), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.ConvTranspose2d(4, 1, 2, stride=2), nn.Sigmoid())

    def forward(self, x):
        a = self.stem(x)
        b = self.down(a)
        up = nn.functional.interpolate(self.lateral(b), scale_factor=2.0, mode="nearest")
        fused = a + up
        smooth = nn.functional.interpolate(fused, scale_factor=0.5, mode="bilinear", align_corners=False)
        return self.head(smooth)


class VadLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=10, hidden_size=12, num_layers=1, batch_first=True)
        self.speech = nn.Linear(12, 1)
        self.noise = nn.Linear(12, 1)

    def forward(self, features, use_speech_head: torch.Tensor):
        h, _ = self.lstm(torch.log(features + 1e-3))
        last = h[:, -1, :]
        if bool(use_speech_head.item() > 0):
            score = self.speech(last)
        else:
            score = self.noise(last) - 1
        frames = torch.tensor(h.shape[1], dtype=torch.int64)
        return torch.sigmoid(score), frames


class GruTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(input_size=6, hidden_size=9, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(18, 5)

    def forward(self, x):
        y, _ = self.gru(x)
        return torch.log_softmax(self.head(y), dim=-1)


class ConvNextBlock(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.pw1 = nn.Linear(c, 4 * c)
        self.pw2 = nn.Linear(4 * c, c)
        self.se_reduce = nn.Conv2d(c, 4, 1)
        self.se_expand = nn.Conv2d(4, c, 1)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(nn.functional.silu(self.pw1(self.norm(y)))).permute(0, 3, 1, 2)
        s = torch.sigmoid(self.se_expand(nn.functional.silu(self.se_reduce(y.mean((2, 3), keepdim=True)))))
        return x + y * s


def initializers_to_constants(model):
    """Moves every initializer into a Constant node, as some exporters (Paddle2ONNX) write weights."""
    graph = model.graph
    constants = [onnx.helper.make_node("Constant", [], [init.name], value=init) for init in graph.initializer]
    names = {init.name for init in graph.initializer}
    kept_inputs = [i for i in graph.input if i.name not in names]
    del graph.initializer[:]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    nodes = constants + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def write_data_set(case, index, model, module, inputs):
    data = os.path.join(case, f"test_data_set_{index}")
    os.makedirs(data, exist_ok=True)
    with torch.no_grad():
        outputs = module(*inputs)
    if not isinstance(outputs, tuple):
        outputs = (outputs,)
    graph_inputs = [i.name for i in model.graph.input]
    for k, t in enumerate(inputs):
        with open(os.path.join(data, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(t.numpy(), graph_inputs[k]).SerializeToString())
    for k, t in enumerate(outputs):
        with open(os.path.join(data, f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(t.numpy(), model.graph.output[k].name).SerializeToString())


def export(name, module, inputs, out_dir, opset=13, script=False, constants=False, names=None, more_inputs=()):
    """Exports `module` traced (or scripted) on `inputs`; each of `more_inputs` is one more data set."""
    module.eval()
    case = os.path.join(out_dir, name)
    os.makedirs(case, exist_ok=True)
    path = os.path.join(case, "model.onnx")
    target = torch.jit.script(module) if script else module
    with torch.no_grad():
        torch.onnx.export(target, tuple(inputs), path, opset_version=opset, input_names=names,
                          do_constant_folding=True)
    model = onnx.load(path)
    if constants:
        model = initializers_to_constants(model)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    for index, data in enumerate([inputs, *more_inputs]):
        write_data_set(case, index, model, module, data)
    print(name, os.path.getsize(path), "bytes:", " ".join(sorted({n.op_type for n in model.graph.node})))


def randomize_batch_norms(module):
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d,)):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return module


def export_local_function(out_dir):
    from onnx import helper, TensorProto
    # ScaledLeaky(X, LO) = Clip(LeakyRelu(X * 2, alpha), LO): alpha is the caller's (LeakyRelu's
    # own default 0.01 when the caller gives none); LO is optional, as Clip's min is.
    body = [
        helper.make_node("Constant", [], ["two"], value=helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])),
        helper.make_node("Mul", ["X", "two"], ["doubled"]),
        helper.make_node("LeakyRelu", ["doubled"], ["leaky"], alpha=0.0),
        helper.make_node("Clip", ["leaky", "LO"], ["Y"]),
    ]
    body[2].attribute[0].ref_attr_name = "alpha"
    fn = helper.make_function("kiln.test", "ScaledLeaky", ["X", "LO"], ["Y"], body,
                              [helper.make_opsetid("", 13)], attributes=["alpha"])
    nodes = [
        helper.make_node("ScaledLeaky", ["x", "lo"], ["h"], domain="kiln.test", alpha=0.5),
        helper.make_node("ScaledLeaky", ["h"], ["y"], domain="kiln.test"),
    ]
    graph = helper.make_graph(nodes, "local_function",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5]),
                               helper.make_tensor_value_info("lo", TensorProto.FLOAT, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])])
    model = helper.make_model(graph, functions=[fn],
                              opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("kiln.test", 1)])
    onnx.checker.check_model(model)
    case = os.path.join(out_dir, "local_function")
    data = os.path.join(case, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    onnx.save(model, os.path.join(case, "model.onnx"))
    x = np.random.randn(2, 5).astype(np.float32)
    lo = np.array(-0.3, dtype=np.float32)
    leaky = lambda v, alpha: np.where(v >= 0, v, alpha * v)
    h = np.maximum(leaky(x * 2, 0.5), lo)
    y = leaky(h * 2, 0.01)
    for name, value in (("input_0", x), ("input_1", lo), ("output_0", y.astype(np.float32))):
        with open(os.path.join(data, name + ".pb"), "wb") as f:
            f.write(numpy_helper.from_array(value).SerializeToString())
    print("local_function", os.path.getsize(os.path.join(case, "model.onnx")), "bytes")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                                  "onnx_models")
    export("ocr_detector", randomize_batch_norms(OcrDetector()), [torch.rand(1, 3, 32, 48)], out_dir, constants=True)
    features = torch.rand(2, 15, 10) * 4
    export("vad_lstm", VadLstm(), [features, torch.tensor(1, dtype=torch.int64)], out_dir, script=True,
           names=["features", "use_speech_head"], more_inputs=[[features, torch.tensor(0, dtype=torch.int64)]])
    export("gru_tagger", GruTagger(), [torch.randn(3, 7, 6)], out_dir)
    export("convnext_block", ConvNextBlock(), [torch.randn(2, 16, 12, 12)], out_dir, opset=17)
    export_local_function(out_dir)


if __name__ == "__main__":
    main()
