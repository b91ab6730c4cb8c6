"""Use the converted nets: preprocess images as the weights expect, ``predict`` classes, ``evaluate`` on ImageNet.

``labels``: the ImageNet-1k classes (package data); ``images``: decoding, the resize + center crop, image
folders; ``models``: any converted model (Caffe pair, PyTorch file, ONNX file, timm folder) behind one
interface that knows its conventions; ``evaluate``: top-1/top-5 error, one process or sharded under torchrun.
"""
