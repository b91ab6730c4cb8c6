"""Arrays computed only when a writer needs them: ``LazyArray`` and ``LazyBlobs``.

``fold_batchnorm(graph, lazy=True)`` gives each folded convolution weight as a ``LazyArray``: its shape and
dtype are known up front, its values are computed when asked for and not kept. The streaming writers
(``safetensors_io.write_safetensors``, ``onnx.stream.write_onnx``) write such an array block by block
(``write_lazy``: a few MiB of rows of its first axis computed, written and dropped at a time, and the pages of
the mapped caffemodel it was computed from dropped as well), so neither the folded model nor even its largest
weight is ever in memory whole.

A node's blobs stay a sequence of real arrays for every other user: ``LazyBlobs[i]`` computes a lazy blob
on each access (the same arithmetic, so the same bits), and only ``LazyBlobs.tensor(i)`` hands out the lazy
array itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TypeAlias, overload

import numpy as np

from ..caffe.fastblob import release_pages

BLOCK_BYTES = 4 << 20  # write_lazy computes about this much at a time


@dataclass(frozen=True, eq=False)
class LazyArray:
    """An array of known ``shape`` (at least 1-D) and ``dtype`` whose values are computed on request.

    ``rows(i, j)`` computes rows ``i:j`` of the first axis (element-wise arithmetic, so any split gives the same
    values). ``sources`` are the arrays it reads (maybe views of a memory-mapped caffemodel), with the same
    first axis: their rows' pages are dropped once the rows computed from them are written.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    rows: Callable[[int, int], np.ndarray]
    sources: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        if not self.shape:
            raise ValueError("a LazyArray needs at least one dimension")
        if any(s.shape[:1] != self.shape[:1] for s in self.sources):
            raise ValueError("a LazyArray's sources must share its first axis")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def _block(self, i: int, j: int) -> np.ndarray:
        arr = self.rows(i, j)
        if arr.shape != (j - i, *self.shape[1:]) or arr.dtype != self.dtype:
            raise AssertionError(f"lazy array computed {arr.dtype}{arr.shape} for rows {i}:{j} of "
                                 f"{self.dtype}{self.shape}")
        return arr

    def value(self) -> np.ndarray:
        """The whole array, computed now (not kept)."""
        return self._block(0, self.shape[0])

    def blocks(self, max_bytes: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(i, j, rows i:j)`` in order, each block of at most ``max_bytes`` (default ``BLOCK_BYTES``) or one
        row."""
        max_bytes = BLOCK_BYTES if max_bytes is None else max_bytes
        n = self.shape[0]
        row_bytes = self.nbytes // n if n else 0
        step = max(1, max_bytes // row_bytes) if row_bytes else max(n, 1)
        for i in range(0, n, step):
            j = min(n, i + step)
            yield i, j, self._block(i, j)


Tensor: TypeAlias = np.ndarray | LazyArray


def materialize(arr: Tensor) -> np.ndarray:
    """The array's values: ``arr`` itself, or a lazy array computed now (not kept)."""
    return arr.value() if isinstance(arr, LazyArray) else arr


def little_endian(arr: np.ndarray) -> np.ndarray:
    """The array as contiguous little-endian 1-D data (no copy for a mapped caffemodel blob)."""
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).reshape(-1)


def write_lazy(f: IO[bytes], arr: LazyArray, max_bytes: int | None = None) -> None:
    """Write ``arr``'s bytes (C order, little-endian) block by block, dropping the mapped pages of each block's
    source rows once it is written (see ``fastblob.release_pages``)."""
    for i, j, block in arr.blocks(max_bytes):
        data = little_endian(block)
        f.write(memoryview(data).cast("B"))  # type: ignore[arg-type]
        del block, data
        for s in arr.sources:
            release_pages(s[i:j])


def write_tensor(f: IO[bytes], t: Tensor) -> None:
    """Write ``t``'s bytes (C order, little-endian): a lazy array block by block (``write_lazy``), an array
    straight from its buffer; then drop the mapped pages it views (``release``). What the streaming writers
    write for each tensor."""
    if isinstance(t, LazyArray):
        write_lazy(f, t)
        return
    f.write(memoryview(little_endian(t)).cast("B"))  # type: ignore[arg-type]
    release(t)


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
