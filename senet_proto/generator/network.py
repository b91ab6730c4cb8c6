"""Assemble a whole net from a template: input, stem, body (per template kind), head; deploy or train_val."""

from __future__ import annotations

from ..caffe import caffe_pb2
from . import bottleneck, inception
from .builder import NetBuilder
from .options import GenerateOptions
from .template import PoolSpec, StemConv, Template

MEAN_BGR = (104, 117, 123)
BODIES = {"bottleneck": bottleneck.body, "inception": inception.body}


def _data_layers(b: NetBuilder, opts: GenerateOptions) -> str:
    n, c, h, w = opts.input_shape
    if opts.data == "dummy":
        layer = b.raw("data", "DummyData", [], ["data", "label"])
        p = layer.dummy_data_param
        data_filler = p.data_filler.add()
        data_filler.type = "gaussian"
        data_filler.std = 50.0
        label_filler = p.data_filler.add()
        label_filler.type = "uniform"
        label_filler.min = 0.0
        label_filler.max = float(opts.num_classes - 1)
        p.shape.add().dim.extend([n, c, h, w])
        p.shape.add().dim.extend([n])
    else:
        for phase, source, mirror in ((caffe_pb2.TRAIN, opts.train_source, True),
                                      (caffe_pb2.TEST, opts.val_source, False)):
            layer = b.raw("data", "Data", [], ["data", "label"])
            layer.include.add().phase = phase
            t = layer.transform_param
            t.mirror = mirror
            t.crop_size = h
            t.mean_value.extend(MEAN_BGR)
            d = layer.data_param
            d.source = source
            d.batch_size = n
            d.backend = caffe_pb2.DataParameter.LMDB
    b.shapes["data"] = (n, c, h, w)
    b.shapes["label"] = (n,)
    return "data"


def _stem(b: NetBuilder, t: Template, x: str, bn_global: bool | None) -> str:
    for item in t.stem:
        if isinstance(item, StemConv):
            x = b.conv(item.name, x, item.num_output, item.kernel, stride=item.stride, pad=item.pad)
            b.batchnorm_scale(x, bn_global)
            b.relu(item.relu, x)
        else:
            x = b.pool(item.name, x, item.method, item.kernel, item.stride, item.pad)
    return x


def _head_pool(b: NetBuilder, spec: PoolSpec, x: str) -> str:
    """The release's fixed 7x7 average pool where it fits exactly; a global average pool at other sizes."""
    _, _, h, w = b.shapes[x]
    if (h, w) == (spec.kernel, spec.kernel) or spec.method != "AVE":
        return b.pool(spec.name, x, spec.method, spec.kernel, spec.stride, spec.pad)
    return b.global_pool(spec.name, x, engine_caffe=False)


def build_net(t: Template, opts: GenerateOptions) -> caffe_pb2.NetParameter:
    opts.validate()
    train = opts.phase == "train"
    b = NetBuilder(t.name, explicit_stride=t.explicit_stride)
    bn_global: bool | None = not train
    x = _data_layers(b, opts) if train else b.input("data", opts.input_shape)
    x = _stem(b, t, x, bn_global)
    x = BODIES[t.kind](b, t, opts, x, bn_global)
    x = _head_pool(b, t.head_pool, x)
    if t.dropout is not None:
        b.dropout(t.dropout[0], x, t.dropout[1])
    logits = b.inner_product(t.classifier, x, opts.num_classes)
    if not train:
        b.softmax(t.prob, logits)
        return b.net
    b.raw("loss", "SoftmaxWithLoss", [logits, "label"], ["loss"])
    for name, k in (("accuracy_top1", 1), ("accuracy_top5", 5)):
        if k > opts.num_classes:
            continue
        acc = b.raw(name, "Accuracy", [logits, "label"], [name])
        acc.include.add().phase = caffe_pb2.TEST
        if k != 1:
            acc.accuracy_param.top_k = k
    return b.net


def build_solver(net_path: str, opts: GenerateOptions, *, base_lr: float = 0.1, max_iter: int = 450000,
                 snapshot_prefix: str = "snapshots/senet") -> caffe_pb2.SolverParameter:
    """A step-schedule SGD solver in the spirit of the paper (momentum 0.9, lr /10 every 30 epochs)."""
    s = caffe_pb2.SolverParameter()
    s.net = net_path
    s.test_iter.append(max(1, 50000 // opts.input_shape[0]))
    s.test_interval = 5000
    s.test_initialization = False
    s.base_lr = base_lr
    s.lr_policy = "step"
    s.gamma = 0.1
    s.stepsize = max_iter // 3
    s.momentum = 0.9
    s.weight_decay = 1e-4
    s.display = 20
    s.max_iter = max_iter
    s.snapshot = 10000
    s.snapshot_prefix = snapshot_prefix
    s.solver_mode = caffe_pb2.SolverParameter.GPU
    return s
