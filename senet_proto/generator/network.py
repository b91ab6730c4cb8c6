"""Assemble a whole net from a template: input, stem, body (per template kind), head; deploy or train_val."""

from __future__ import annotations

import math
from pathlib import PurePosixPath

from ..caffe import caffe_pb2
from . import bottleneck, inception
from .builder import NetBuilder
from .options import GenerateOptions
from .template import PoolSpec, StemConv, Template

MEAN_BGR = (104, 117, 123)
BODIES = {"bottleneck": bottleneck.body, "inception": inception.body}


def _data_layers(b: NetBuilder, opts: GenerateOptions) -> str:
    _, c, size, _ = opts.input_shape
    n = opts.batch_size
    if opts.data == "dummy":
        # Fresh gaussian images each pass; every label 0, so a net that learns shows a falling loss.
        layer = b.raw("data", "DummyData", [], ["data", "label"])
        p = layer.dummy_data_param
        data_filler = p.data_filler.add()
        data_filler.type = "gaussian"
        data_filler.std = 50.0
        label_filler = p.data_filler.add()
        label_filler.type = "constant"
        label_filler.value = 0.0
        p.shape.add().dim.extend([n, c, size, size])
        p.shape.add().dim.extend([n])
    else:
        for phase, source, train in ((caffe_pb2.TRAIN, opts.train_source, True),
                                     (caffe_pb2.TEST, opts.val_source, False)):
            layer = b.raw("data", "Data" if opts.data == "lmdb" else "ImageData", [], ["data", "label"])
            layer.include.add().phase = phase
            t = layer.transform_param
            t.mirror = train
            t.crop_size = size
            t.mean_value.extend(MEAN_BGR)
            if opts.data == "lmdb":
                d = layer.data_param
                d.source = source
                d.batch_size = n
                d.backend = caffe_pb2.DataParameter.LMDB
            else:  # a text file of "path label" lines; each image resized by 256/224 of the crop, then cropped
                im = layer.image_data_param
                im.source = source
                im.batch_size = n
                im.shuffle = train
                im.new_height = im.new_width = round(size * 256 / 224)
    b.shapes["data"] = (n, c, size, size)
    b.shapes["label"] = (n,)
    return "data"


def _stem(b: NetBuilder, t: Template, x: str, bn_global: bool | None) -> str:
    for item in t.stem:
        if isinstance(item, StemConv):
            x = b.conv(item.name, x, item.num_output, item.kernel, stride=item.stride, pad=item.pad)
            b.batchnorm_scale(x, bn_global)
            b.relu(item.relu, x)
        else:
            _, _, h, w = b.shapes[x]
            x = b.pool(item.name, x, item.method, item.kernel, item.stride, item.pad)
            if item.round == "floor":
                x = b.crop_end(item.name, x, (floor_pooled_size(h, item), floor_pooled_size(w, item)))
    return x


def floor_pooled_size(size: int, spec: PoolSpec) -> int:
    """The pooled size in floor mode (PyTorch's default); Caffe's ceil-mode windows start at the same places, so
    its first outputs are these."""
    return (size + 2 * spec.pad - spec.kernel) // spec.stride + 1


def _head_pool(b: NetBuilder, spec: PoolSpec, x: str) -> str:
    """The release's fixed 7x7 average pool where it fits exactly; a global average pool at other sizes."""
    _, _, h, w = b.shapes[x]
    if (h, w) == (spec.kernel, spec.kernel) or spec.method != "AVE":
        return b.pool(spec.name, x, spec.method, spec.kernel, spec.stride, spec.pad)
    return b.global_pool(spec.name, x, engine_caffe=False)


def net_name(t: Template, opts: GenerateOptions) -> str:
    """The template's name; without SE blocks the baseline's ("SE-ResNet-50" -> "ResNet-50 (no SE)")."""
    if opts.se_style != "none":
        return t.name
    return f"{t.name[3:] if t.name.startswith('SE-') else t.name} (no SE)"


def classifier_name(t: Template, opts: GenerateOptions) -> str:
    """Fine-tuning renames the classifier, so that Caffe initialises it instead of copying the old one."""
    return f"{t.classifier}_ft" if opts.finetune else t.classifier


def build_net(t: Template, opts: GenerateOptions) -> caffe_pb2.NetParameter:
    opts.validate()
    train = opts.phase == "train"
    b = NetBuilder(net_name(t, opts), explicit_stride=t.explicit_stride, fillers=train)
    bn_global: bool | None = not train
    x = _data_layers(b, opts) if train else b.input("data", opts.input_shape)
    x = _stem(b, t, x, bn_global)
    x = BODIES[t.kind](b, t, opts, x, bn_global)
    x = _head_pool(b, t.head_pool, x)
    if t.dropout is not None:
        b.dropout(t.dropout[0], x, t.dropout[1])
    logits = b.inner_product(classifier_name(t, opts), x, opts.num_classes, filler="gaussian",
                             lr_mult=10.0 if opts.finetune and train else 1.0)
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


def build_solver(net_path: str, opts: GenerateOptions, *, weights: str | None = None) -> caffe_pb2.SolverParameter:
    """SGD as in the paper: momentum 0.9, weight decay 1e-4, lr 0.1 per 256 images of effective batch (a tenth
    of that when fine-tuning from ``weights``), stepped x0.1 every 30% of the run (30 of 100 epochs).

    Paths are written as given: relative to the folder that ``caffe train`` runs in.
    """
    opts.validate()
    s = caffe_pb2.SolverParameter()
    s.net = net_path
    epoch = math.ceil(opts.train_size / opts.effective_batch)  # iterations per epoch
    max_iter = epoch * opts.total_epochs
    s.test_iter.append(math.ceil(opts.val_size / opts.batch_size))
    s.test_interval = epoch
    s.test_initialization = False
    s.base_lr = (0.01 if opts.finetune else 0.1) * opts.effective_batch / 256
    s.lr_policy = opts.lr_policy
    if opts.lr_policy in ("step", "multistep"):
        s.gamma = 0.1
        step = max(1, round(0.3 * opts.total_epochs)) * epoch
        if opts.lr_policy == "step":
            s.stepsize = step
        else:
            s.stepvalue.extend(range(step, max_iter, step))
    elif opts.lr_policy == "poly":
        s.power = 1.0
    s.momentum = 0.9
    s.weight_decay = 1e-4
    if opts.iter_size != 1:
        s.iter_size = opts.iter_size
    s.display = min(20, epoch)
    s.max_iter = max_iter
    if opts.total_epochs >= 10:  # ten snapshots a run; a shorter run only its final one (snapshot_after_train)
        s.snapshot = epoch * (opts.total_epochs // 10)
    # default: snapshots/<net file's name without suffix>_iter_N.caffemodel (the caller creates the folder)
    s.snapshot_prefix = f"snapshots/{PurePosixPath(net_path).name.split('.')[0] or 'net'}"
    s.solver_mode = caffe_pb2.SolverParameter.SolverMode.Value(opts.solver_mode.upper())
    if opts.seed is not None:
        s.random_seed = opts.seed
    if weights is not None:
        s.weights.append(weights)
    return s

