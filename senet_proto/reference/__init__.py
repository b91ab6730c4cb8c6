"""The real-Caffe reference: run Caffe 1.0 on a net, make realistic test weights, train a few steps.

How it works.  Caffe always runs in a subprocess, never in our process (Caffe's own
generated ``caffe_pb2`` would clash with ours in protobuf's default pool).  If the
current Python can ``import caffe`` (checked in a subprocess: a user's own Caffe, or
the Docker image) that Python runs it; otherwise ``chroot ROOT python3`` does, in a
Debian 11 root with ``python3-caffe`` (Caffe 1.0, CPU, Python 3.9, numpy 1.19) that
``root.ensure_root`` makes on first use (about 1.5 min, 1 GB; as root with debootstrap, as
any other user with ``mmdebstrap --mode=unshare`` and entered through user and mount
namespaces instead of a plain ``chroot``) in
``~/.cache/senet-proto/debian11-caffe`` (``$SENET_PROTO_CAFFE_ROOT`` overrides;
``$SENET_PROTO_CAFFE_BACKEND=host|root`` forces a choice).  Each call makes a
temporary job directory (inside the root: ``ROOT/tmp/senet-proto-*``), copies the two
small stand-alone scripts of ``inroot/`` there, writes the net as prototxt text, the
inputs as .npy files and links the caffemodel, runs ``inroot/runner.py`` with
``GLOG_minloglevel=2`` and reads the results back as .npy/.json/.caffemodel files;
the directory is removed afterwards.  When Caffe aborts (glog ``Check failed``) or the
job raises, the caller gets ``CaffeReferenceError`` with Caffe's own message on one
line.  The user's prototxt is never changed: an in-memory copy has every ``Axpy``
layer turned into a Caffe ``Python`` layer running ``inroot/senet_axpy.py`` (forward
and backward of top = a·X + Y); nets that name their own Python layers are refused.

Public API: ``forward`` (every blob after a TEST-phase forward), ``gradients``
(Caffe's backward), ``make_weights`` / ``cached_weights`` (He-scaled random weights
with every BatchNorm calibrated in network order on a random input, a random
moving-average factor f != 1, and one BatchNorm with f == 0 folded harmlessly into
its Scale; saved by Caffe's ``net.save``), ``train`` (a few SGD steps, the losses)
and ``backend_info``.

Modules: ``jobs`` (what every job shares: the net, its inputs, the caffemodel, a progress bar), ``blobs``
(forward, backward), ``weights`` (calibrated weights), ``cache`` (the weights' file cache), ``training``
(the solver and its steps), ``backend`` (where Caffe runs), ``netprep`` (the in-memory copy Caffe runs).
"""

from .backend import backend_info
from .blobs import forward, gradients
from .cache import cached_weights
from .jobs import INPUT_STD
from .training import train
from .weights import make_weights

__all__ = ["INPUT_STD", "backend_info", "cached_weights", "forward", "gradients", "make_weights", "train"]
