"""Generation options (the command line's --se-style, --squeeze, ...) and their validation."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

SE_STYLES = ("axpy", "scale", "none")
SQUEEZES = ("conv", "fc")
PHASES = ("deploy", "train")
DATA_SOURCES = ("lmdb", "images", "dummy")
SOLVER_MODES = ("cpu", "gpu")
LR_POLICIES = ("step", "multistep", "poly", "fixed")


@dataclass(frozen=True)
class GenerateOptions:
    """What to generate. The defaults give the official deploy net.

    se_style: ``axpy`` — the release's fused Axpy layer (residual nets); ``scale`` — stock-Caffe layers only
    (Reshape + two-bottom Scale, then Eltwise SUM with the shortcut); ``none`` — the baseline without SE.
    squeeze: ``conv`` — 1x1 Convolutions as released; ``fc`` — InnerProduct layers.
    """

    se_style: str = "axpy"
    squeeze: str = "conv"
    reduction: int = 16
    input_shape: tuple[int, int, int, int] = (1, 3, 224, 224)
    num_classes: int = 1000
    phase: str = "deploy"
    data: str = "lmdb"  # train phase: LMDB Data layers, ImageData layers (lists of images), or DummyData
    train_source: str = "train_lmdb"
    val_source: str = "val_lmdb"
    # train phase: the batch of one forward pass (train and val), independent of the deploy input's N
    batch_size: int = 64
    # fine-tuning: the classifier gets a new name (Caffe initialises it) and a higher learning rate
    finetune: bool = False
    # solver (train phase): effective batch = batch_size * iter_size; sizes give test_iter and the schedule
    iter_size: int = 4
    epochs: int | None = None  # None: 100 from scratch (the paper's), 30 when fine-tuning
    train_size: int = 1281167
    val_size: int = 50000
    solver_mode: str = "gpu"
    lr_policy: str = "step"
    seed: int | None = None

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.iter_size

    @property
    def total_epochs(self) -> int:
        return self.epochs if self.epochs is not None else (30 if self.finetune else 100)

    def validate(self) -> None:
        for name, value, choices in (
            ("se-style", self.se_style, SE_STYLES),
            ("squeeze", self.squeeze, SQUEEZES),
            ("phase", self.phase, PHASES),
            ("data", self.data, DATA_SOURCES),
            ("solver-mode", self.solver_mode, SOLVER_MODES),
            ("lr-policy", self.lr_policy, LR_POLICIES),
        ):
            if value not in choices:
                raise UsageError(f"--{name} must be one of {', '.join(choices)}, got {value!r}")
        if not isinstance(self.reduction, int) or self.reduction < 1:
            raise UsageError(f"--reduction must be a positive integer, got {self.reduction!r}")
        shape = tuple(self.input_shape)
        if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape):
            raise UsageError(f"--input-shape must be four positive integers N,C,H,W, got {shape}")
        if shape[1] != 3:
            raise UsageError(f"--input-shape: these nets take 3 input channels (BGR), got C={shape[1]}")
        if max(shape[2:]) > 8192 or shape[0] > 4096:
            raise UsageError(f"--input-shape {shape} is unreasonably large")
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise UsageError(f"--num-classes must be a positive integer, got {self.num_classes!r}")
        if self.num_classes == 1:
            raise UsageError("--num-classes 1 gives a softmax over one class, always 1 (nothing to predict or "
                             "learn); use 2 or more")
        for option, count in (("batch-size", self.batch_size), ("iter-size", self.iter_size),
                              ("train-size", self.train_size), ("val-size", self.val_size),
                              ("epochs", self.total_epochs)):
            if not isinstance(count, int) or count < 1:
                raise UsageError(f"--{option} must be a positive integer, got {count!r}")
        if self.phase == "train":
            if shape[2] != shape[3]:
                raise UsageError(f"--input-shape {','.join(map(str, shape))}: the train phase crops squares "
                                 "(Caffe's crop_size); give H = W")
            if shape[0] not in (1, self.batch_size):
                raise UsageError(f"--input-shape N={shape[0]} is the deploy batch; the train phase's batch is "
                                 f"--batch-size ({self.batch_size})")


def parse_shape(text: str) -> tuple[int, int, int, int]:
    """Parse ``N,C,H,W`` (also accepts ``x`` or spaces as separators)."""
    parts = [p for p in text.replace("x", ",").replace(" ", ",").split(",") if p]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--input-shape must be N,C,H,W integers, got {text!r}") from None
    if len(dims) != 4:
        raise UsageError(f"--input-shape must have four dimensions N,C,H,W, got {text!r}")
    return (dims[0], dims[1], dims[2], dims[3])
