"""Read a Caffe net and its weights without Caffe: ``load_caffe(prototxt, caffemodel)``.

The prototxt and the caffemodel are parsed with the project's schema and
upgraded as Caffe does (V1 ``layers``, legacy inputs, legacy blob shapes).
Weights are matched to layers by name, as Caffe's ``CopyTrainedLayersFrom``: the
prototxt layer's type and parameters say how many blobs of which shapes it takes,
and the caffemodel layer of that name must have them; its own type is not compared
(a differing type whose blobs fit is logged at INFO, e.g. Axpy layers saved as ``Python``).

- a prototxt layer that needs weights and has none in the caffemodel (Caffe would fill it randomly),
- a wrong number of blobs, or blob shapes that contradict the layer's parameters,

are ``CaffemodelError``s naming the layer. Caffemodel layers the net lacks are
ignored, with or without blobs, as Caffe ignores them ("Ignoring source layer"),
in one warning naming them: weights with no place in the prototxt may mean a
mismatched pair. Not named: a training snapshot's parameter-free data, loss and
accuracy layers, Caffe's automatic ``Split`` layers, layers of the prototxt's
other phases, and with ``allow_extra=True`` any extra layer without blobs (the
released SENet-154 caffemodel names a few differently from its prototxt).

Only the TEST-phase layers of the prototxt are matched (this is a deploy
reader); layers of other phases are kept in ``net`` but get no weights.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..caffe import caffe_pb2, read_caffemodel_proto, read_prototxt
from ..caffe.fastblob import LAYER_FIELD, V1_LAYERS_FIELD, read_fast
from ..caffe.io import NetLike
from ..caffe.layers import TRAINING_TYPES, spec
from ..caffe.python_axpy import is_python_axpy
from ..caffe.upgrade import V1_TYPE_NAMES, upgrade_net
from ..caffe.validate import check_graph, layers_for_phase
from ..errors import CaffemodelError, PrototxtError

log = logging.getLogger("senet_proto")

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


def check_blobs(layer: caffe_pb2.LayerParameter, blobs: list[np.ndarray], legacy: list[bool],
                source_type: str = "") -> list[np.ndarray]:
    """Check a layer's blobs against its parameters; return them (legacy 4-D blobs reshaped).

    ``source_type``: the caffemodel layer's type when it differs (named in errors; the blobs decide)."""
    entry = spec(layer.type)
    fn = entry.blobs if entry is not None else None
    other = f"; {source_type} in the caffemodel" if source_type and source_type != layer.type else ""
    where = f"layer '{layer.name}' ({layer.type}{other})"
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
    written = _as_net(prototxt, "prototxt")
    as_python = {ly.name for ly in written.layer if is_python_axpy(ly)}  # Python in both files: not retyped
    net = upgrade_net(written)
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
    sources = list(_model_layers(model, preread))
    ignored = _ignored_sources(sources, {ly.name for ly in net.layer}, allow_extra)
    result.weights, retyped = _place_weights(sources, wanted, as_python, prefix)
    _log_retyped(retyped, prefix)
    _check_all_placed(wanted, result.weights, ignored, prefix)
    _warn_ignored(ignored, prefix)
    return result


def _ignored_sources(sources: list[_SourceLayer], all_names: set[str], allow_extra: bool) -> list[_SourceLayer]:
    """Caffe ignores source layers the net lacks; those worth a warning (see the module's docstring), weighted
    first."""
    return sorted((src for src in sources if src.name not in all_names and (
        len(src.blobs) or not (allow_extra or src.type in IGNORED_EXTRA_TYPES))), key=lambda src: not len(src.blobs))


def _place_weights(
    sources: list[_SourceLayer], wanted: dict[str, caffe_pb2.LayerParameter], as_python: set[str], prefix: str
) -> tuple[dict[str, list[np.ndarray]], dict[tuple[str, str], list[str]]]:
    """Match the caffemodel's layers to the wanted ones by name, as Caffe does: their checked blobs by layer
    name, and the names of layers whose type differs, by (prototxt type, caffemodel type)."""
    weights: dict[str, list[np.ndarray]] = {}
    seen: set[str] = set()
    retyped: dict[tuple[str, str], list[str]] = {}
    for src in sources:
        target = wanted.get(src.name)
        if target is None:  # as Caffe: ignored
            continue
        if src.name in seen:
            raise CaffemodelError(f"{prefix}caffemodel has two layers named '{src.name}'")
        seen.add(src.name)
        if src.type and target.type and src.type != target.type and not (
                src.type == "Python" and src.name in as_python):  # Caffe compares blobs, never types
            retyped.setdefault((target.type, src.type), []).append(src.name)
        if len(src.blobs):
            weights[src.name] = _layer_weights(src, target, prefix)
    return weights, retyped


def _layer_weights(src: _SourceLayer, target: caffe_pb2.LayerParameter, prefix: str) -> list[np.ndarray]:
    """One caffemodel layer's blobs decoded and checked against the prototxt layer of its name."""
    legacy = [_is_legacy(b) for b in src.blobs]
    arrays = [decode_blob(b, f"{prefix}layer '{src.name}' blob {i}", src.data[i] if src.data else None)
              for i, b in enumerate(src.blobs)]
    return check_blobs(target, arrays, legacy, src.type)


def _log_retyped(retyped: dict[tuple[str, str], list[str]], prefix: str) -> None:
    for (ours, theirs), layers in retyped.items():
        log.info("%s%d layer(s) %s in the prototxt are %s in the caffemodel (%s); their blobs fit, and weights "
                 "are matched by name as Caffe does", prefix, len(layers), ours, theirs,
                 _first_three([f"'{n}'" for n in layers]))


def _check_all_placed(wanted: dict[str, caffe_pb2.LayerParameter], weights: dict[str, list[np.ndarray]],
                      ignored: list[_SourceLayer], prefix: str) -> None:
    """Every wanted layer that takes weights has them (Caffe would fill it randomly)."""
    weighted = [src for src in ignored if len(src.blobs)]
    for name, layer in wanted.items():
        if name not in weights and _needs_weights(layer):
            unplaced = f" it has weights for {_listing(weighted)}, which the prototxt lacks" if weighted else ""
            raise CaffemodelError(
                f"{prefix}layer '{name}' ({layer.type}) needs weights but the caffemodel has none for it"
                f" (mismatched prototxt/caffemodel pair?{unplaced})"
            )


def _warn_ignored(ignored: list[_SourceLayer], prefix: str) -> None:
    if ignored:
        weighted = any(len(src.blobs) for src in ignored)
        why, hint = (("weights that the prototxt has no place for", "") if weighted else
                     ("names that differ", " (--allow-extra silences this for layers without weights)"))
        log.warning("%signoring %d caffemodel layer(s) that the prototxt lacks: %s; Caffe ignores them too, but %s "
                    "may mean a mismatched prototxt/caffemodel pair%s", prefix, len(ignored), _listing(ignored), why,
                    hint)


def _first_three(items: list[str]) -> str:
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def _listing(layers: list[_SourceLayer]) -> str:
    """Caffemodel layers by name, type and blob count: the first three and how many more."""
    def one(src: _SourceLayer) -> str:
        n = len(src.blobs)
        return f"'{src.name}' ({src.type or '?'}{f', {n} blob' + 's' * (n > 1) if n else ''})"
    return _first_three([one(src) for src in layers])


@dataclass
class _SourceLayer:
    name: str
    type: str
    blobs: list
    data: list[np.ndarray | None] | None = None  # per blob, float data the fast reader already mapped


def _model_layers(model: caffe_pb2.NetParameter, preread: dict[tuple[int, int], list[np.ndarray | None]]):
    """The caffemodel's layers (current or V1 format) without copying the big message."""
    for i, ly in enumerate(model.layer):
        yield _SourceLayer(ly.name, ly.type, ly.blobs, preread.get((LAYER_FIELD, i)))
    for i, v1 in enumerate(model.layers):
        if v1.HasField("layer"):
            raise CaffemodelError(f"caffemodel layer '{v1.name}': V0 format is not supported")
        type_name = V1_TYPE_NAMES[caffe_pb2.V1LayerParameter.LayerType.Name(v1.type)] if v1.HasField("type") else ""
        yield _SourceLayer(v1.name, type_name, v1.blobs, preread.get((V1_LAYERS_FIELD, i)))


_LEGACY = ("num", "channels", "height", "width")


def _is_legacy(blob: caffe_pb2.BlobProto) -> bool:
    return not blob.HasField("shape") and any(blob.HasField(f) for f in _LEGACY)

