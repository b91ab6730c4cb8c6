"""Read a Caffe net and its weights without Caffe: ``load_caffe(prototxt, caffemodel)``.

The prototxt and the caffemodel are parsed with the project's schema and
upgraded as Caffe does (V1 ``layers``, legacy inputs, legacy blob shapes).
Weights are matched to layers by name, as Caffe's ``CopyTrainedLayersFrom``:

- a prototxt layer that needs weights and has none in the caffemodel,
- a wrong number of blobs, or blob shapes that contradict the layer's parameters,
- a caffemodel layer with blobs that the prototxt does not have,
- a caffemodel layer whose type differs from the prototxt layer of that name,

are ``CaffemodelError``s naming the layer. Caffemodels saved from a training
net carry parameter-free data, loss and accuracy layers; those are ignored.
Any other caffemodel layer unknown to the prototxt is an error unless
``allow_extra=True`` and it has no blobs (the released SENet-154 caffemodel
names a few parameter-free layers differently from its prototxt). Caffe's own
automatic ``Split`` layers are ignored too.

Only the TEST-phase layers of the prototxt are matched (this is a deploy
reader); layers of other phases are kept in ``net`` but get no weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..caffe import caffe_pb2, read_caffemodel_proto, read_prototxt
from ..caffe.fastblob import read_fast
from ..caffe.io import NetLike
from ..caffe.layers import TRAINING_TYPES, spec
from ..caffe.upgrade import V1_TYPE_NAMES, upgrade_net
from ..caffe.validate import check_graph, layers_for_phase
from ..errors import CaffemodelError, PrototxtError

# Parameter-free types that Caffe's snapshots carry beyond a deploy prototxt (data, loss, accuracy layers of
# the training net; the Split layers Caffe inserts itself): never an error when extra.
IGNORED_EXTRA_TYPES = TRAINING_TYPES | {"Split", "Silence", "Python"}


@dataclass
class CaffeNet:
    """An upgraded net and its weights: layer name -> list of float32 arrays (Caffe's blob order)."""

    net: caffe_pb2.NetParameter
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    source: str = ""

    def layers(self, phase: int = caffe_pb2.TEST) -> list[caffe_pb2.LayerParameter]:
        return layers_for_phase(self.net, phase)


def decode_blob(blob: caffe_pb2.BlobProto, where: str, data: np.ndarray | None = None) -> np.ndarray:
    """One BlobProto as a float32 array of its (upgraded) shape. The single place blobs are decoded.

    ``data``: the blob's float data already read by the fast reader (a view of the mapped file)."""
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    elif _is_legacy(blob):
        shape = (blob.num, blob.channels, blob.height, blob.width)
    else:
        shape = ()
    if any(d < 0 for d in shape):
        raise CaffemodelError(f"{where}: negative dimension in shape {shape}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if data is not None and len(blob.double_data):
        raise CaffemodelError(f"{where}: has both float data and double_data")
    if data is None and len(blob.double_data):
        data = np.asarray(blob.double_data, dtype=np.float64).astype(np.float32)
    elif data is None:
        data = np.asarray(blob.data, dtype=np.float32)
    if data.size != count:
        raise CaffemodelError(f"{where}: has {data.size} values but its shape {shape} needs {count}")
    return data.reshape(shape)


def _as_net(spec: NetLike, what: str) -> caffe_pb2.NetParameter:
    if isinstance(spec, caffe_pb2.NetParameter):
        return spec
    if what == "prototxt":
        return read_prototxt(spec)
    return read_caffemodel_proto(spec)


def plain_reader_forced() -> bool:
    """SENET_PROTO_PLAIN_READER=1 reads caffemodels with plain protobuf (the fast reader's reference)."""
    return os.environ.get("SENET_PROTO_PLAIN_READER") == "1"


def _read_model(spec: NetLike) -> tuple[caffe_pb2.NetParameter, dict[tuple[int, int], list[np.ndarray | None]]]:
    if isinstance(spec, caffe_pb2.NetParameter) or plain_reader_forced():
        return _as_net(spec, "caffemodel"), {}
    fast = read_fast(spec)
    return fast.net, fast.arrays


def _legacy_fit(arr: np.ndarray, expect: tuple[int | None, ...]) -> np.ndarray:
    """Caffe accepts a legacy 4-D blob when its shape, left-padded with 1s to 4-D, matches (ShapeEquals)."""
    if arr.ndim == 4 and len(expect) < 4 and all(d == 1 for d in arr.shape[: 4 - len(expect)]):
        return arr.reshape(arr.shape[4 - len(expect):])
    return arr


def _shape_ok(shape: tuple[int, ...], expect: tuple[int | None, ...]) -> bool:
    if expect == (None,):
        return True
    return len(shape) == len(expect) and all(e is None or e == d for d, e in zip(shape, expect, strict=True))


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def check_blobs(layer: caffe_pb2.LayerParameter, blobs: list[np.ndarray], legacy: list[bool]) -> list[np.ndarray]:
    """Check a layer's blobs against its parameters; return them (legacy 4-D blobs reshaped)."""
    entry = spec(layer.type)
    fn = entry.blobs if entry is not None else None
    where = f"layer '{layer.name}' ({layer.type})"
    if fn is None:
        if entry is not None and blobs:
            raise CaffemodelError(f"{where}: takes no weights but the caffemodel has {len(blobs)} blob(s)")
        return blobs
    expect = fn(layer, blobs)
    if expect is None:
        return blobs
    if len(blobs) != len(expect):
        raise CaffemodelError(
            f"{where}: the caffemodel has {len(blobs)} blob(s), the prototxt needs {len(expect)} "
            f"(shapes {', '.join(_fmt(e) for e in expect) or 'none'})"
        )
    out = []
    for i, (arr, exp) in enumerate(zip(blobs, expect, strict=True)):
        if legacy[i]:
            arr = _legacy_fit(arr, exp)
        if not _shape_ok(arr.shape, exp):
            raise CaffemodelError(
                f"{where}: blob {i} has shape {tuple(arr.shape)} in the caffemodel, the prototxt needs {_fmt(exp)}"
            )
        out.append(arr)
    if layer.type == "BatchNorm" and out[0].shape != out[1].shape:
        raise CaffemodelError(f"{where}: mean shape {out[0].shape} differs from variance shape {out[1].shape}")
    if layer.type in ("Scale", "Bias") and len(out) == 2 and out[0].shape != out[1].shape:
        raise CaffemodelError(f"{where}: scale shape {out[0].shape} differs from bias shape {out[1].shape}")
    if layer.type == "Convolution" and out[0].ndim >= 3:
        group = layer.convolution_param.group or 1
        if layer.convolution_param.num_output % group:
            raise PrototxtError(f"{where}: num_output {layer.convolution_param.num_output} "
                                f"is not a multiple of group {group}")
    return out


def _needs_weights(layer: caffe_pb2.LayerParameter) -> bool:
    entry = spec(layer.type)
    fn = entry.blobs if entry is not None else None
    if fn is None:
        return False
    exp = fn(layer, [])
    return bool(exp)


def load_caffe(prototxt: NetLike, caffemodel: NetLike | None, *, allow_extra: bool = False,
               phase: int = caffe_pb2.TEST) -> CaffeNet:
    """Read a prototxt and its caffemodel (paths or parsed messages) into a ``CaffeNet``.

    ``caffemodel=None`` gives a net without weights (for layouts that need none).
    """
    net = upgrade_net(_as_net(prototxt, "prototxt"))
    check_graph(net, phase)
    source = str(caffemodel) if caffemodel is not None and not isinstance(caffemodel, caffe_pb2.NetParameter) else ""
    result = CaffeNet(net=net, source=source)
    if caffemodel is None:
        return result
    model, preread = _read_model(caffemodel)
    if len(model.layer) and len(model.layers):
        raise CaffemodelError(f"{source or 'caffemodel'}: mixes V1 'layers' and current 'layer' entries")
    prefix = f"{Path(source).name}: " if source else ""
    wanted = {ly.name: ly for ly in layers_for_phase(net, phase)}
    all_names = {ly.name for ly in net.layer}
    seen: set[str] = set()
    sources = list(_model_layers(model, preread))
    extra_free: list[_SourceLayer] = []
    for src in sources:  # blobs the prototxt has no place for: the most telling sign of a mismatched pair
        if src.name not in wanted:
            if len(src.blobs):
                shapes = ", ".join(str(_raw_shape(b)) for b in src.blobs)
                raise CaffemodelError(
                    f"{prefix}caffemodel layer '{src.name}' ({src.type or '?'}) has {len(src.blobs)} blob(s) "
                    f"{shapes} but the prototxt has no such layer (mismatched prototxt/caffemodel pair?)"
                )
            if src.name not in all_names and src.type not in IGNORED_EXTRA_TYPES:
                extra_free.append(src)
    for src in sources:
        target = wanted.get(src.name)
        if target is None:
            continue
        if src.name in seen:
            raise CaffemodelError(f"{prefix}caffemodel has two layers named '{src.name}'")
        seen.add(src.name)
        if src.type and target.type and src.type != target.type:
            raise CaffemodelError(
                f"{prefix}layer '{src.name}' is {target.type} in the prototxt but {src.type} in the caffemodel"
            )
        if not len(src.blobs):
            continue
        legacy = [_is_legacy(b) for b in src.blobs]
        arrays = [decode_blob(b, f"{prefix}layer '{src.name}' blob {i}", src.data[i] if src.data else None)
                  for i, b in enumerate(src.blobs)]
        result.weights[src.name] = check_blobs(target, arrays, legacy)
    for name, layer in wanted.items():
        if name not in result.weights and _needs_weights(layer):
            raise CaffemodelError(
                f"{prefix}layer '{name}' ({layer.type}) needs weights but the caffemodel has none for it"
                " (mismatched prototxt/caffemodel pair?)"
            )
    if extra_free and not allow_extra:
        names = ", ".join(f"'{s.name}' ({s.type or '?'})" for s in extra_free[:3])
        more = f" and {len(extra_free) - 3} more" if len(extra_free) > 3 else ""
        raise CaffemodelError(
            f"{prefix}caffemodel layer(s) {names}{more} without weights are not in the prototxt "
            "(use allow_extra / --allow-extra to ignore extra parameter-free layers)"
        )
    return result


@dataclass
class _SourceLayer:
    name: str
    type: str
    blobs: list
    data: list[np.ndarray | None] | None = None  # per blob, float data the fast reader already mapped


def _model_layers(model: caffe_pb2.NetParameter, preread: dict[tuple[int, int], list[np.ndarray | None]]):
    """The caffemodel's layers (current or V1 format) without copying the big message."""
    for i, ly in enumerate(model.layer):
        yield _SourceLayer(ly.name, ly.type, ly.blobs, preread.get((100, i)))
    for i, v1 in enumerate(model.layers):
        if v1.HasField("layer"):
            raise CaffemodelError(f"caffemodel layer '{v1.name}': V0 format is not supported")
        type_name = V1_TYPE_NAMES[caffe_pb2.V1LayerParameter.LayerType.Name(v1.type)] if v1.HasField("type") else ""
        yield _SourceLayer(v1.name, type_name, v1.blobs, preread.get((2, i)))


_LEGACY = ("num", "channels", "height", "width")


def _is_legacy(blob: caffe_pb2.BlobProto) -> bool:
    return not blob.HasField("shape") and any(blob.HasField(f) for f in _LEGACY)


def _raw_shape(blob: caffe_pb2.BlobProto) -> tuple[int, ...]:
    if _is_legacy(blob):
        return tuple(getattr(blob, f) for f in _LEGACY)
    return tuple(blob.shape.dim)
