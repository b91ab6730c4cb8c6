"""PyTorch converters, one function per Caffe layer type, registered in ``registry.TORCH_LAYERS``.

Each function takes a ``graph.Node`` (the Caffe layer, its weights as float32
arrays, attributes set by graph passes) and returns a ``torch.nn.Module`` whose
``forward(*bottoms)`` returns the top (or a tuple of tops).
"""

from . import activation, common, conv, eltwise, norm, pool, shape  # noqa: F401  (registers the converters)
