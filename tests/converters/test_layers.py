"""Each supported layer type against real Caffe, over shapes and parameters.

All the cases of one type run in one Caffe net (see conv_cases.combine); every
blob of every case is compared with the converted PyTorch module's value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conv_cases import SEP, Case, combine, layer, make_inputs, rand, write_model

from senet_proto.analysis import infer_shapes
from senet_proto.converters import load_caffe
from senet_proto.converters.pytorch import build_module

RTOL = 1e-5
ATOL_REL = 2e-6  # of the blob's largest magnitude


def conv_cases() -> list[Case]:
    rng = np.random.default_rng(1)
    specs = [
        # id, input shape, convolution_param, weight shape
        ("k3p1", (2, 4, 9, 11), {"num_output": 5, "kernel_size": [3], "pad": [1]}, (5, 4, 3, 3)),
        ("k3s2", (1, 4, 10, 9), {"num_output": 6, "kernel_size": [3], "stride": [2]}, (6, 4, 3, 3)),
        ("nobias", (1, 3, 8, 8), {"num_output": 4, "kernel_size": [1], "bias_term": False}, (4, 3, 1, 1)),
        ("groups", (2, 8, 7, 7), {"num_output": 6, "kernel_size": [3], "pad": [1], "group": 2}, (6, 4, 3, 3)),
        ("depthwise", (1, 6, 7, 9), {"num_output": 6, "kernel_size": [3], "pad": [1], "group": 6}, (6, 1, 3, 3)),
        ("dilation", (1, 3, 12, 12), {"num_output": 4, "kernel_size": [3], "dilation": [2], "pad": [2]},
         (4, 3, 3, 3)),
        ("hw", (1, 3, 11, 10), {"num_output": 4, "kernel_h": 3, "kernel_w": 1, "pad_h": 1, "pad_w": 0,
                                "stride_h": 2, "stride_w": 1}, (4, 3, 3, 1)),
        ("peraxis", (2, 3, 10, 13), {"num_output": 3, "kernel_size": [3, 2], "stride": [1, 2], "pad": [0, 1],
                                     "dilation": [2, 1]}, (3, 3, 3, 2)),
        ("k7s2p3", (1, 3, 33, 31), {"num_output": 8, "kernel_size": [7], "stride": [2], "pad": [3]},
         (8, 3, 7, 7)),
    ]
    cases = []
    for cid, shape, param, wshape in specs:
        blobs = [rand(rng, *wshape, scale=0.3)]
        if param.get("bias_term", True):
            blobs.append(rand(rng, wshape[0]))
        cases.append(Case(cid, {"x": shape}, [layer("Convolution", "conv", ["x"], ["y"], convolution_param=param)],
                          {"conv": blobs}))
    return cases


def pool_cases() -> list[Case]:
    cases = []
    specs = [
        # kernel, stride, pad, H, W: ceil != floor at these sizes, with and without padding
        (3, 2, 0, 8, 8), (3, 2, 0, 112, 111), (3, 2, 1, 8, 9), (3, 2, 1, 7, 7), (2, 2, 0, 7, 6),
        (3, 1, 1, 5, 6), (2, 3, 0, 8, 7), (2, 3, 1, 8, 9), (3, 2, 2, 9, 8), (5, 3, 2, 12, 10), (7, 1, 0, 7, 9),
        # stride > kernel without padding: Caffe keeps a last window that starts at the edge (empty: MAX gives
        # -FLT_MAX, AVE 0/0); PyTorch's ceil mode drops it, so the converter must follow Caffe explicitly
        (2, 3, 0, 6, 7), (1, 2, 0, 5, 4),
    ]
    for mode in ("MAX", "AVE"):
        for k, s, p, h, w in specs:
            cases.append(Case(f"{mode}_k{k}s{s}p{p}_{h}x{w}", {"x": (2, 3, h, w)},
                              [layer("Pooling", "pool", ["x"], ["y"],
                                     pooling_param={"pool": mode, "kernel_size": k, "stride": s, "pad": p})]))
        cases.append(Case(f"{mode}_hw", {"x": (1, 2, 9, 8)},
                          [layer("Pooling", "pool", ["x"], ["y"], pooling_param={
                              "pool": mode, "kernel_h": 3, "kernel_w": 2, "stride_h": 2, "stride_w": 1,
                              "pad_h": 1, "pad_w": 0})]))
        cases.append(Case(f"{mode}_global", {"x": (2, 5, 7, 6)}, [
            layer("Pooling", "pool", ["x"], ["y"], pooling_param={"pool": mode, "global_pooling": True})]))
    return cases


def bn_cases() -> list[Case]:
    rng = np.random.default_rng(2)
    cases = []
    for f in (1.0, 0.25, 999.0, 0.0):
        for eps in (None, 1e-3):
            for with_scale in (True, False):
                c = 6
                mean = rand(rng, c)
                var = np.abs(rand(rng, c)) + np.float32(0.2)
                bn_param: dict = {"use_global_stats": True}
                if eps is not None:
                    bn_param["eps"] = eps
                layers = [layer("Convolution", "conv", ["x"], ["x1"], convolution_param={
                              "num_output": c, "kernel_size": [1], "bias_term": False}),
                          layer("BatchNorm", "bn", ["x1"], ["x1"], batch_norm_param=bn_param)]
                weights = {"conv": [rand(rng, c, 3, 1, 1)],
                           "bn": [mean * np.float32(f), var * np.float32(f), np.array([f], np.float32)]}
                if with_scale:
                    layers.append(layer("Scale", "scale", ["x1"], ["x1"], scale_param={"bias_term": True}))
                    weights["scale"] = [rand(rng, c), rand(rng, c)]
                cid = f"f{f:g}_eps{eps or 'default'}_{'scale' if with_scale else 'alone'}"
                cases.append(Case(cid, {"x": (2, 3, 5, 4)}, layers, weights))
    # not in place, on a 2-D blob, Scale without bias
    mean, var = rand(rng, 5), np.abs(rand(rng, 5)) + np.float32(0.5)
    cases.append(Case("2d_notinplace", {"x": (4, 5)},
                      [layer("BatchNorm", "bn", ["x"], ["y"], batch_norm_param={"use_global_stats": True}),
                       layer("Scale", "scale", ["y"], ["z"], scale_param={"bias_term": False})],
                      {"bn": [mean * 3, var * 3, np.array([3.0], np.float32)], "scale": [rand(rng, 5)]}))
    # batch statistics (use_global_stats: false at TEST, as Caffe computes them)
    cases.append(Case("batchstats", {"x": (3, 4, 5, 5)},
                      [layer("BatchNorm", "bn", ["x"], ["y"], batch_norm_param={"use_global_stats": False})],
                      {"bn": [rand(rng, 4), np.abs(rand(rng, 4)), np.array([1.0], np.float32)]}))
    return cases


def scale_bias_cases() -> list[Case]:
    rng = np.random.default_rng(3)
    return [
        Case("scale_bias", {"x": (2, 4, 3, 5)}, [layer("Scale", "s", ["x"], ["y"], scale_param={"bias_term": True})],
             {"s": [rand(rng, 4), rand(rng, 4)]}),
        Case("scale_nobias", {"x": (2, 4, 3, 5)}, [layer("Scale", "s", ["x"], ["y"])], {"s": [rand(rng, 4)]}),
        Case("scale_num_axes2", {"x": (2, 4, 3, 5)},
             [layer("Scale", "s", ["x"], ["y"], scale_param={"num_axes": 2, "bias_term": True})],
             {"s": [rand(rng, 4, 3), rand(rng, 4, 3)]}),
        Case("scale_axis2", {"x": (2, 4, 3, 5)},
             [layer("Scale", "s", ["x"], ["y"], scale_param={"axis": 2, "num_axes": -1})],
             {"s": [rand(rng, 3, 5)]}),
        Case("scale_inplace", {"x": (2, 4, 3, 5)},
             [layer("ReLU", "r", ["x"], ["a"]), layer("Scale", "s", ["a"], ["a"], scale_param={"bias_term": True})],
             {"s": [rand(rng, 4), rand(rng, 4)]}),
        Case("scale2_axis0", {"x": (2, 4, 3, 5), "g": (2, 4)},
             [layer("Scale", "s", ["x", "g"], ["y"], scale_param={"axis": 0, "bias_term": False})]),
        Case("scale2_axis1", {"x": (2, 4, 3, 5), "g": (4, 3)}, [layer("Scale", "s", ["x", "g"], ["y"])]),
        Case("scale2_bias", {"x": (2, 4, 3, 5), "g": (4,)},
             [layer("Scale", "s", ["x", "g"], ["y"], scale_param={"bias_term": True})], {"s": [rand(rng, 4)]}),
        Case("bias1", {"x": (2, 4, 3, 5)}, [layer("Bias", "b", ["x"], ["y"])], {"b": [rand(rng, 4)]}),
        Case("bias2", {"x": (2, 4, 3, 5), "c": (2, 4)},
             [layer("Bias", "b", ["x", "c"], ["y"], bias_param={"axis": 0})]),
    ]


def activation_cases() -> list[Case]:
    cases = []
    for inplace in (False, True):
        tag = "inplace" if inplace else "out"
        top = "a" if inplace else "y"
        # in place on a computed blob (the net's input itself is never written)
        pre = [layer("Power", "shift", ["x"], ["a"], power_param={"shift": 0.1})]
        cases += [
            Case(f"relu_{tag}", {"x": (2, 3, 4, 5)}, [*pre, layer("ReLU", "act", ["a"], [top])]),
            Case(f"leaky_{tag}", {"x": (2, 3, 4, 5)},
                 [*pre, layer("ReLU", "act", ["a"], [top], relu_param={"negative_slope": 0.1})]),
            Case(f"sigmoid_{tag}", {"x": (2, 3, 4, 5)}, [*pre, layer("Sigmoid", "act", ["a"], [top])], input_scale=4),
            Case(f"tanh_{tag}", {"x": (2, 3, 4, 5)}, [*pre, layer("TanH", "act", ["a"], [top])], input_scale=2),
            Case(f"dropout_{tag}", {"x": (2, 7)},
                 [*pre, layer("Dropout", "act", ["a"], [top], dropout_param={"dropout_ratio": 0.3})]),
        ]
    cases += [
        Case("relu_on_input", {"x": (2, 3)}, [layer("ReLU", "act", ["x"], ["x"])]),
        Case("power", {"x": (2, 3, 4)}, [layer("Power", "p", ["x"], ["y"],
                                               power_param={"power": 2.0, "scale": 0.5, "shift": 1.0})]),
        Case("absval", {"x": (2, 3, 4)}, [layer("AbsVal", "p", ["x"], ["y"])]),
    ]
    return cases


def eltwise_cases() -> list[Case]:
    return [
        Case("sum", {"a": (2, 3, 4, 4), "b": (2, 3, 4, 4)}, [layer("Eltwise", "e", ["a", "b"], ["y"])]),
        Case("sum_coeff", {"a": (2, 3, 4, 4), "b": (2, 3, 4, 4), "c": (2, 3, 4, 4)},
             [layer("Eltwise", "e", ["a", "b", "c"], ["y"], eltwise_param={"operation": "SUM",
                                                                          "coeff": [0.5, -2.0, 1.0]})]),
        Case("prod", {"a": (2, 3, 4), "b": (2, 3, 4), "c": (2, 3, 4)},
             [layer("Eltwise", "e", ["a", "b", "c"], ["y"], eltwise_param={"operation": "PROD"})]),
        Case("max", {"a": (2, 3, 4, 4), "b": (2, 3, 4, 4)},
             [layer("Eltwise", "e", ["a", "b"], ["y"], eltwise_param={"operation": "MAX"})]),
        Case("axpy_nc11", {"s": (2, 3, 1, 1), "x": (2, 3, 5, 4), "r": (2, 3, 5, 4)},
             [layer("Sigmoid", "g", ["s"], ["s1"]), layer("Axpy", "ax", ["s1", "x", "r"], ["y"])]),
        Case("axpy_nc", {"s": (2, 3), "x": (2, 3, 5, 4), "r": (2, 3, 5, 4)},
             [layer("Axpy", "ax", ["s", "x", "r"], ["y"]), layer("ReLU", "relu", ["y"], ["y"])]),
        Case("concat1", {"a": (2, 3, 4, 4), "b": (2, 5, 4, 4)}, [layer("Concat", "c", ["a", "b"], ["y"])]),
        Case("concat0", {"a": (2, 3, 4), "b": (1, 3, 4)},
             [layer("Concat", "c", ["a", "b"], ["y"], concat_param={"axis": 0})]),
        Case("concat_dim2", {"a": (2, 3, 4), "b": (2, 3, 2)},
             [layer("Concat", "c", ["a", "b"], ["y"], concat_param={"concat_dim": 2})]),
    ]


def ip_shape_cases() -> list[Case]:
    rng = np.random.default_rng(4)
    return [
        Case("ip_4d", {"x": (2, 3, 2, 2)}, [layer("InnerProduct", "fc", ["x"], ["y"],
                                                  inner_product_param={"num_output": 5})],
             {"fc": [rand(rng, 5, 12), rand(rng, 5)]}),
        Case("ip_axis2", {"x": (2, 3, 2, 4)}, [layer("InnerProduct", "fc", ["x"], ["y"],
                                                     inner_product_param={"num_output": 6, "axis": 2})],
             {"fc": [rand(rng, 6, 8), rand(rng, 6)]}),
        Case("ip_transpose", {"x": (3, 7)}, [layer("InnerProduct", "fc", ["x"], ["y"], inner_product_param={
            "num_output": 4, "transpose": True, "bias_term": False})], {"fc": [rand(rng, 7, 4)]}),
        Case("reshape_00", {"x": (2, 6, 1, 1)},
             [layer("Reshape", "r", ["x"], ["y"], reshape_param={"shape": {"dim": [0, 0]}})]),
        Case("reshape_infer", {"x": (2, 6, 2, 3)},
             [layer("Reshape", "r", ["x"], ["y"], reshape_param={"shape": {"dim": [0, -1, 4]}})]),
        Case("reshape_axis", {"x": (2, 6, 2, 3)},
             [layer("Reshape", "r", ["x"], ["y"], reshape_param={"shape": {"dim": [3, -1]}, "axis": 1,
                                                                  "num_axes": 1})]),
        Case("reshape_axis_neg", {"x": (2, 6)},
             [layer("Reshape", "r", ["x"], ["y"], reshape_param={"shape": {"dim": [1, 1]}, "axis": -1})]),
        Case("flatten", {"x": (2, 3, 4, 5)}, [layer("Flatten", "f", ["x"], ["y"])]),
        Case("flatten_axes", {"x": (2, 3, 4, 5)},
             [layer("Flatten", "f", ["x"], ["y"], flatten_param={"axis": 1, "end_axis": 2})]),
        Case("softmax", {"x": (2, 10)}, [layer("Softmax", "s", ["x"], ["y"])], input_scale=5),
        Case("softmax_axis", {"x": (2, 3, 4, 5)},
             [layer("Softmax", "s", ["x"], ["y"], softmax_param={"axis": 2})], input_scale=5),
        Case("split", {"x": (2, 3)}, [layer("Split", "sp", ["x"], ["y1", "y2"])]),
    ]


def chain_cases() -> list[Case]:
    """In-place chains as in the SENet nets: conv → BN → Scale → ReLU in place, SE gate, Axpy, shortcut."""
    rng = np.random.default_rng(5)
    c = 8
    conv = {"num_output": c, "kernel_size": [3], "pad": [1], "bias_term": False}
    layers = [
        layer("Convolution", "conv", ["x"], ["conv"], convolution_param=conv),
        layer("BatchNorm", "bn", ["conv"], ["conv"], batch_norm_param={"use_global_stats": True}),
        layer("Scale", "scale", ["conv"], ["conv"], scale_param={"bias_term": True}),
        layer("ReLU", "relu", ["conv"], ["conv"]),
        layer("Pooling", "gap", ["conv"], ["gap"], pooling_param={"pool": "AVE", "global_pooling": True}),
        layer("Convolution", "down", ["gap"], ["down"], convolution_param={"num_output": 2, "kernel_size": [1]}),
        layer("ReLU", "down_relu", ["down"], ["down"]),
        layer("Convolution", "up", ["down"], ["up"], convolution_param={"num_output": c, "kernel_size": [1]}),
        layer("Sigmoid", "prob", ["up"], ["up"]),
        layer("Reshape", "flat", ["up"], ["gate"], reshape_param={"shape": {"dim": [0, 0]}}),
        layer("Axpy", "axpy", ["up", "conv", "x"], ["out"]),
        layer("ReLU", "out_relu", ["out"], ["out"]),
    ]
    weights = {"conv": [rand(rng, c, c, 3, 3, scale=0.2)],
               "bn": [rand(rng, c) * 2, (np.abs(rand(rng, c)) + 0.5) * 2, np.array([2.0], np.float32)],
               "scale": [rand(rng, c), rand(rng, c)],
               "down": [rand(rng, 2, c, 1, 1), rand(rng, 2)], "up": [rand(rng, c, 2, 1, 1), rand(rng, c)]}
    cases = [Case("se_block", {"x": (2, c, 6, 5)}, layers, weights)]
    # BatchNorm must not be folded into a convolution whose output something else reads (here after a BatchNorm
    # that is not in place; reading it before an in-place BatchNorm is refused by Caffe itself, since its
    # automatic Split makes the in-place top a second producer)
    bn_w = {"conv": [rand(rng, 4, 3, 3, 3)], "bn": [rand(rng, 4), np.abs(rand(rng, 4)) + 1, np.ones(1, np.float32)],
            "scale": [rand(rng, 4), rand(rng, 4)]}
    conv4 = {"num_output": 4, "kernel_size": [3], "pad": [1], "bias_term": False}
    cases.append(Case("shared_after", {"x": (2, 3, 5, 5)}, [
        layer("Convolution", "conv", ["x"], ["y"], convolution_param=conv4),
        layer("BatchNorm", "bn", ["y"], ["z"]),
        layer("Scale", "scale", ["z"], ["z"], scale_param={"bias_term": True}),
        layer("Eltwise", "sum", ["y", "z"], ["out"]),
    ], bn_w))
    # a Scale that is not the BatchNorm's only reader stays separate
    cases.append(Case("bn_two_readers", {"x": (2, 4, 3, 3)}, [
        layer("BatchNorm", "bn", ["x"], ["z"]),
        layer("Scale", "scale", ["z"], ["s"], scale_param={"bias_term": True}),
        layer("Eltwise", "prod", ["z", "s"], ["out"], eltwise_param={"operation": "PROD"}),
    ], {k: v for k, v in bn_w.items() if k != "conv"}))
    return cases


def odd_geometry_cases() -> list[Case]:
    """Geometry Caffe allows that the SENets never use: per-axis kernels/strides/pads, a pad on one axis only,
    strides larger than the kernel, dilation with groups, global pooling on non-square planes, AVE windows
    clipped at both borders, and the axis/num_axes corners of Eltwise, Concat, InnerProduct and Scale."""
    rng = np.random.default_rng(6)

    def pool(cid: str, shape: tuple[int, ...], **param: Any) -> Case:
        return Case(cid, {"x": shape}, [layer("Pooling", "pool", ["x"], ["y"], pooling_param=param)])

    def conv(cid: str, shape: tuple[int, ...], wshape: tuple[int, ...], **param: Any) -> Case:
        return Case(cid, {"x": shape}, [layer("Convolution", "conv", ["x"], ["y"], convolution_param=param)],
                    {"conv": [rand(rng, *wshape, scale=0.3), rand(rng, wshape[0])]})

    cases = [
        # Caffe applies its last-window rule on both axes as soon as any pad is set (pooling_layer.cpp)
        pool("max_pad_h_only", (2, 4, 6, 5), pool="MAX", kernel_h=3, kernel_w=1, stride_h=2, stride_w=3,
             pad_h=1, pad_w=0),
        pool("ave_pad_w_only", (2, 3, 6, 5), pool="AVE", kernel_h=2, kernel_w=3, stride_h=3, stride_w=2,
             pad_h=0, pad_w=1),
        pool("max_stride_gt_kernel", (1, 2, 9, 8), pool="MAX", kernel_h=2, kernel_w=1, stride_h=3, stride_w=2,
             pad_h=0, pad_w=0),
        pool("ave_clipped_both", (2, 3, 6, 7), pool="AVE", kernel_size=5, stride=2, pad=2),
        pool("ave_clipped_peraxis", (1, 2, 7, 9), pool="AVE", kernel_h=4, kernel_w=3, stride_h=3, stride_w=2,
             pad_h=2, pad_w=1),
        pool("max_global_wide", (2, 3, 3, 7), pool="MAX", global_pooling=True),
        pool("ave_global_tall", (2, 3, 8, 2), pool="AVE", global_pooling=True),
        conv("conv_peraxis", (2, 3, 9, 11), (4, 3, 3, 5), num_output=4, kernel_h=3, kernel_w=5, stride_h=2,
             stride_w=1, pad_h=0, pad_w=2),
        conv("conv_pad_one_axis", (1, 3, 8, 7), (5, 3, 3, 3), num_output=5, kernel_size=[3], pad_h=1, pad_w=0),
        conv("conv_stride_gt_kernel", (1, 2, 10, 9), (3, 2, 2, 2), num_output=3, kernel_size=[2], stride=[3]),
        conv("conv_dilation_groups", (2, 6, 11, 10), (4, 3, 3, 3), num_output=4, kernel_size=[3], dilation=[2],
             pad=[1], group=2),
        Case("eltwise_coeff", {"a": (2, 3, 4), "b": (2, 3, 4)},
             [layer("Eltwise", "e", ["a", "b"], ["y"], eltwise_param={"operation": "SUM", "coeff": [-1.0, 0.25]})]),
        Case("concat_axis2", {"a": (2, 3, 4, 5), "b": (2, 3, 2, 5)},
             [layer("Concat", "c", ["a", "b"], ["y"], concat_param={"axis": 2})]),
        Case("ip_axis2_3d", {"x": (2, 3, 4)}, [layer("InnerProduct", "fc", ["x"], ["y"],
                                                     inner_product_param={"num_output": 5, "axis": 2})],
             {"fc": [rand(rng, 5, 4), rand(rng, 5)]}),
        Case("scale_axis0", {"x": (2, 3, 4, 5)},
             [layer("Scale", "s", ["x"], ["y"], scale_param={"axis": 0, "num_axes": 1, "bias_term": True})],
             {"s": [rand(rng, 2), rand(rng, 2)]}),
        Case("scale_axis0_num_axes2", {"x": (2, 3, 4, 5)},
             [layer("Scale", "s", ["x"], ["y"], scale_param={"axis": 0, "num_axes": 2})], {"s": [rand(rng, 2, 3)]}),
    ]
    return cases


def prelu_slice_cases() -> list[Case]:
    """PReLU (per channel, shared, on N×C, in place) and Slice (slice points, equal parts, legacy slice_dim)."""
    rng = np.random.default_rng(7)
    return [
        Case("prelu", {"x": (2, 4, 3, 5)}, [layer("PReLU", "p", ["x"], ["y"])], {"p": [rand(rng, 4)]}),
        Case("prelu_shared", {"x": (2, 4, 3, 5)},
             [layer("PReLU", "p", ["x"], ["y"], prelu_param={"channel_shared": True})],
             {"p": [rand(rng, 1).reshape(())]}),
        Case("prelu_2d_inplace", {"x": (3, 6)},
             [layer("Power", "shift", ["x"], ["a"], power_param={"shift": 0.1}), layer("PReLU", "p", ["a"], ["a"])],
             {"p": [rand(rng, 6)]}),
        Case("slice_points", {"x": (2, 7, 3, 4)},
             [layer("Slice", "s", ["x"], ["a", "b", "c"], slice_param={"slice_point": [2, 3]})]),
        Case("slice_equal_axis2", {"x": (2, 3, 6, 4)},
             [layer("Slice", "s", ["x"], ["a", "b", "c"], slice_param={"axis": 2})]),
        Case("slice_last_axis", {"x": (2, 3, 5)},
             [layer("Slice", "s", ["x"], ["a", "b"], slice_param={"axis": -1, "slice_point": [1]})]),
        Case("slice_dim_legacy", {"x": (2, 4, 3)},
             [layer("Slice", "s", ["x"], ["a", "b"], slice_param={"slice_dim": 1}),
              layer("Eltwise", "e", ["a", "b"], ["y"], eltwise_param={"operation": "PROD"})]),
    ]


BUILDERS: dict[str, Callable[[], list[Case]]] = {
    "Convolution": conv_cases,
    "Pooling": pool_cases,
    "BatchNorm": bn_cases,
    "ScaleBias": scale_bias_cases,
    "Activation": activation_cases,
    "EltwiseAxpyConcat": eltwise_cases,
    "InnerProductShape": ip_shape_cases,
    "InPlaceChain": chain_cases,
    "OddGeometry": odd_geometry_cases,
    "PReLUSlice": prelu_slice_cases,
}
CASES = {group: builder() for group, builder in BUILDERS.items()}
PARAMS = [pytest.param(group, case.id, id=f"{group}-{case.id}") for group, cases in CASES.items() for case in cases]


@pytest.fixture(scope="module")
def results(reference, tmp_path_factory):
    """group -> (Caffe's blobs, the module's blobs unmerged, merged, BN folded, shape inference's shapes),
    computed on first use."""
    cache: dict[str, tuple[dict[str, np.ndarray], ...]] = {}

    def get(group: str) -> tuple[dict[str, np.ndarray], ...]:
        if group not in cache:
            cases = CASES[group]
            net, model = combine(cases, group)
            path = write_model(model, Path(tmp_path_factory.mktemp("layers")) / f"{group}.caffemodel")
            inputs = make_inputs(cases)
            caffe = reference.forward(net, path, inputs)
            caffenet = load_caffe(net, path)
            ours = []
            for kw in ({"merge_bn": False}, {}, {"fuse_bn": True}):
                module = build_module(caffenet, **kw)
                given = {k: torch.from_numpy(v.copy()) for k, v in inputs.items()}
                with torch.no_grad():
                    blobs = module.forward_blobs(**given)
                ours.append({k: v.numpy() for k, v in blobs.items()})
                for k, v in inputs.items():  # the caller's tensors are never written, even by in-place layers
                    np.testing.assert_array_equal(given[k].numpy(), v, err_msg=f"input {k} was modified")
            cache[group] = (caffe, *ours, infer_shapes(net))
        return cache[group]

    return get


def assert_blob_close(ours: np.ndarray, ref: np.ndarray, name: str) -> None:
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != Caffe's {ref.shape}"
    scale = float(np.nanmax(np.abs(ref))) if ref.size and np.isfinite(ref).any() else 0.0
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL_REL * max(scale, 1e-6), err_msg=name)


@pytest.mark.parametrize(("group", "case_id"), PARAMS)
def test_layer_matches_caffe(results, group: str, case_id: str) -> None:
    caffe, unmerged, merged, fused, shapes = results(group)
    names = [k for k in caffe if k.startswith(case_id + SEP)]
    assert names, f"Caffe returned no blobs for {case_id}"
    # shape inference (`info`, `draw`, the ONNX exporter) sees the shapes Caffe makes
    assert {n: shapes[n] for n in names} == {n: caffe[n].shape for n in names}
    for variant, ours in (("unmerged", unmerged), ("merged", merged), ("fused", fused)):
        for name in names:
            if variant != "unmerged" and name not in ours:
                continue  # a blob merged away (BatchNorm output read only by its Scale)
            assert name in ours, f"{variant}: blob {name} missing"
            assert_blob_close(ours[name], caffe[name], f"{variant} {name}")
