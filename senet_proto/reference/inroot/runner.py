"""senet-proto's jobs inside the Caffe environment (Python 3.9 / numpy 1.19 or newer).

Usage: python3 runner.py JOBDIR      (reads JOBDIR/job.json, writes results into JOBDIR)

Stands alone: only the standard library, numpy and caffe.  Data crosses as
files; progress goes to stdout as lines "@@progress DONE TOTAL"; a failure
writes JOBDIR/error.txt (one line) and exits with status 3.  Caffe's own
fatal errors (glog "Check failed") abort the process; the caller reads them
from stderr.
"""

import json
import os
import sys
import traceback

import numpy as np

JOB = {}
JOBDIR = "."


def path(name):
    return os.path.join(JOBDIR, name)


def report(done, total):
    sys.stdout.write("@@progress %d %d\n" % (done, total))
    sys.stdout.flush()


def load_inputs(net, job):
    for i, name in enumerate(job.get("inputs", [])):
        arr = np.load(path("in_%04d.npy" % i))
        blob = net.blobs[name]
        if blob.data.shape != arr.shape:
            blob.reshape(*arr.shape)
        blob.data[...] = arr
    if job.get("inputs"):
        net.reshape()


def random_inputs(net, job, rng):
    for name in net.inputs:
        blob = net.blobs[name]
        blob.data[...] = (rng.standard_normal(blob.data.shape) * job["input_std"]).astype(np.float32)


def save_blobs(net, names):
    written = []
    for i, name in enumerate(names):
        np.save(path("out_%04d.npy" % i), np.ascontiguousarray(net.blobs[name].data, dtype=np.float32))
        written.append(name)
    return written


# ---------------------------------------------------------------- weights

def init_params(net, rng):
    """He-scaled conv/fc weights, small biases, Scale gammas around 1 and small betas, neutral BatchNorm."""
    for layer in net.layers:
        blobs = layer.blobs
        if not len(blobs):
            continue
        kind = layer.type
        if kind in ("Convolution", "Deconvolution", "InnerProduct"):
            w = blobs[0].data
            fan_in = int(np.prod(w.shape[1:])) if w.ndim > 1 else int(w.shape[0])
            w[...] = rng.standard_normal(w.shape) * np.sqrt(2.0 / max(fan_in, 1))
            for b in list(blobs)[1:]:
                b.data[...] = rng.standard_normal(b.data.shape) * 0.01
        elif kind == "Scale":
            blobs[0].data[...] = rng.uniform(0.7, 1.3, blobs[0].data.shape)
            for b in list(blobs)[1:]:
                b.data[...] = rng.standard_normal(b.data.shape) * 0.1
        elif kind == "BatchNorm":
            blobs[0].data[...] = 0.0
            blobs[1].data[...] = 1.0
            blobs[2].data[...] = 1.0
        elif kind == "PReLU":
            blobs[0].data[...] = 0.25
        else:
            for b in blobs:
                b.data[...] = rng.standard_normal(b.data.shape) * 0.1


def moving_average_factor(rng):
    """A random BatchNorm factor f in [0.01, 1000], never near 1 (a converter that forgets to divide shows)."""
    while True:
        f = float(10.0 ** rng.uniform(-2.0, 3.0))
        if abs(f - 1.0) > 0.1:
            return f


def foldable_bns(net):
    """BatchNorm layers followed directly by an in-place Scale with a bias (where f == 0 can be folded away)."""
    names = list(net._layer_names)
    out = []
    for i, layer in enumerate(net.layers[:-1]):
        nxt = net.layers[i + 1]
        if layer.type != "BatchNorm" or nxt.type != "Scale" or len(nxt.blobs) != 2:
            continue
        top = net.top_names[names[i]][0]
        if net.bottom_names[names[i + 1]] == [top] and net.top_names[names[i + 1]] == [top]:
            out.append(names[i])
    return out


def run_weights(caffe, job):
    net = caffe.Net(path("net.prototxt"), caffe.TEST)
    rng = np.random.RandomState(job["seed"])
    init_params(net, rng)
    names = list(net._layer_names)
    eligible = foldable_bns(net)
    zero = job.get("zero_factor")
    if zero is None:
        zero = [eligible[np.random.RandomState(job["seed"] + 1).randint(len(eligible))]] if eligible else []
    for name in zero:
        if name not in eligible:
            raise ValueError("BatchNorm %r cannot get factor 0: it is not followed by an in-place Scale with a bias"
                             % name)
    zero = set(zero)
    if job.get("inputs"):  # calibrate on the caller's input (e.g. image crops) instead of random noise
        load_inputs(net, job)
    else:
        random_inputs(net, job, np.random.RandomState(job["seed"] + 2))
    bn_index = [i for i, layer in enumerate(net.layers) if layer.type == "BatchNorm"]
    eps = job["bn_eps"]
    start = 0
    factors = {}
    for done, i in enumerate(bn_index):
        if i > start:
            net._forward(start, i - 1)
        name = names[i]
        x = net.blobs[net.bottom_names[name][0]].data
        axes = tuple(a for a in range(x.ndim) if a != 1)
        mean = x.mean(axis=axes, dtype=np.float64)
        var = x.var(axis=axes, dtype=np.float64)
        blobs = net.layers[i].blobs
        if name in zero:
            f = 0.0
            # Caffe multiplies the stored statistics by 0 and normalises with mean 0, var 0: x / sqrt(eps).
            # Fold the real normalisation into the following Scale so that the net computes the same function.
            e = float(eps.get(name, 1e-5))
            s = np.sqrt(var + e)
            scale = net.layers[i + 1].blobs
            gamma = scale[0].data.astype(np.float64)
            beta = scale[1].data.astype(np.float64)
            scale[0].data[...] = gamma * np.sqrt(e) / s
            scale[1].data[...] = beta - gamma * mean / s
            blobs[0].data[...] = mean  # stale values; Caffe ignores them when the factor is 0
            blobs[1].data[...] = var
        else:
            f = moving_average_factor(rng)
            blobs[0].data[...] = mean * f
            blobs[1].data[...] = var * f
        blobs[2].data[...] = f
        factors[name] = f
        start = i
        report(done + 1, len(bn_index))
    net._forward(start, len(names) - 1)
    stats = {}
    for name in net.outputs:
        d = net.blobs[name].data
        stats[name] = {"max_abs": float(np.abs(d).max()), "finite": bool(np.isfinite(d).all())}
    net.save(path("out.caffemodel"))
    with open(path("result.json"), "w") as f:
        json.dump({"factors": factors, "zero_factor": sorted(zero), "outputs": stats}, f)


# ---------------------------------------------------------------- forward / train

def run_forward(caffe, job):
    net = caffe.Net(path("net.prototxt"), caffe.TRAIN if job.get("phase") == "train" else caffe.TEST)
    if job.get("weights"):
        net.copy_from(path(job["weights"]))
    if job.get("inputs"):
        load_inputs(net, job)
    else:
        random_inputs(net, job, np.random.RandomState(job["seed"]))
    net.forward()
    known = set(job.get("known") or net.blobs)  # leaves out the Split copies Caffe inserts
    wanted = job.get("blobs") or [b for b in net.blobs if b in known]
    missing = [b for b in wanted if b not in net.blobs]
    if missing:
        raise KeyError("no blob named %s in the net" % ", ".join(map(repr, missing)))
    names = save_blobs(net, wanted)
    with open(path("result.json"), "w") as f:
        json.dump({"blobs": names}, f)


def run_backward(caffe, job):
    net = caffe.Net(path("net.prototxt"), caffe.TEST)
    if job.get("weights"):
        net.copy_from(path(job["weights"]))
    load_inputs(net, job)
    net.forward()
    for i, name in enumerate(job["top_diffs"]):
        diff = np.load(path("diff_%04d.npy" % i))
        if net.blobs[name].diff.shape != diff.shape:
            raise ValueError("the gradient for %r has shape %s, the blob %s" % (name, diff.shape,
                                                                                 net.blobs[name].diff.shape))
        net.blobs[name].diff[...] = diff
    net._backward(len(net.layers) - 1, 0)
    names = list(job["inputs"])
    for i, name in enumerate(names):
        np.save(path("out_%04d.npy" % i), np.ascontiguousarray(net.blobs[name].diff, dtype=np.float32))
    with open(path("result.json"), "w") as f:
        json.dump({"blobs": names}, f)


def run_train(caffe, job):
    if hasattr(caffe, "set_random_seed"):
        caffe.set_random_seed(job["seed"])
    solver = caffe.get_solver(path("solver.prototxt"))
    net = solver.net
    if job.get("weights"):
        net.copy_from(path(job["weights"]))
    else:
        init_params(net, np.random.RandomState(job["seed"]))
    losses = []
    for it in range(job["iters"]):
        solver.step(1)
        losses.append(float(sum(w * float(net.blobs[b].data.sum()) for b, w in job["loss_blobs"])))
        report(it + 1, job["iters"])
    with open(path("result.json"), "w") as f:
        json.dump({"losses": losses}, f)


def main():
    global JOB, JOBDIR
    JOBDIR = sys.argv[1]
    with open(path("job.json")) as f:
        JOB = json.load(f)
    try:
        import caffe

        caffe.set_mode_cpu()
        {"forward": run_forward, "backward": run_backward, "weights": run_weights,
         "train": run_train}[JOB["cmd"]](caffe, JOB)
    except Exception as e:  # one line for the caller, the traceback on stderr
        traceback.print_exc()
        with open(path("error.txt"), "w") as f:
            f.write(("%s: %s" % (type(e).__name__, e)).replace("\n", " "))
        sys.exit(3)


if __name__ == "__main__":
    main()
