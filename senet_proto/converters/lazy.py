"""Arrays computed only when a writer needs them: ``LazyArray`` and ``LazyBlobs``.

``fold_batchnorm(graph, lazy=True)`` gives each folded convolution weight as a ``LazyArray``: its shape and
dtype are known up front, its values are computed when asked for and not kept. The streaming writers
(``safetensors_io.write_safetensors``, ``onnx.stream.write_onnx``) compute one such array at a time, write it
and drop it, so a folded model is never in memory all at once.

A node's blobs stay a sequence of real arrays for every other user: ``LazyBlobs[i]`` computes a lazy blob
on each access (the same arithmetic, so the same bits), and only ``LazyBlobs.tensor(i)`` hands out the lazy
array itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias, overload

import numpy as np

from ..caffe.fastblob import release_pages


@dataclass(frozen=True, eq=False)
class LazyArray:
    """An array of known ``shape`` and ``dtype`` whose values ``compute()`` makes on each ``value()``.

    ``sources`` are the arrays ``compute`` reads (maybe views of a memory-mapped caffemodel): ``release``
    drops their pages once the value is written.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    compute: Callable[[], np.ndarray]
    sources: tuple[np.ndarray, ...] = ()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def value(self) -> np.ndarray:
        arr = self.compute()
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise AssertionError(f"lazy array computed {arr.dtype}{arr.shape}, announced {self.dtype}{self.shape}")
        return arr


Tensor: TypeAlias = np.ndarray | LazyArray


def materialize(arr: Tensor) -> np.ndarray:
    """The array's values: ``arr`` itself, or a lazy array computed now (not kept)."""
    return arr.value() if isinstance(arr, LazyArray) else arr


def release(arr: Tensor) -> None:
    """Drop the mapped pages ``arr`` views or (lazy) is computed from (see ``fastblob.release_pages``)."""
    for a in arr.sources if isinstance(arr, LazyArray) else (arr,):
        release_pages(a)


class LazyBlobs(Sequence[np.ndarray]):
    """A node's blobs, some of them lazy: indexing and iterating give arrays (lazy ones computed each time),
    ``tensor(i)`` gives blob ``i`` as it is held."""

    def __init__(self, items: Sequence[Tensor]) -> None:
        self._items = list(items)

    def tensor(self, i: int) -> Tensor:
        return self._items[i]

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, i: slice) -> list[np.ndarray]: ...

    def __getitem__(self, i: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(i, slice):
            return [materialize(t) for t in self._items[i]]
        return materialize(self._items[i])

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (materialize(t) for t in self._items)

    def __repr__(self) -> str:
        return f"LazyBlobs({self._items!r})"


def blob_tensor(blobs: Sequence[np.ndarray], i: int) -> Tensor:
    """Blob ``i`` as held: a ``LazyArray`` for a lazy blob (not computed), else the array."""
    return blobs.tensor(i) if isinstance(blobs, LazyBlobs) else blobs[i]
