"""Chunk outputs merged in chunk order, whatever order the chunks finish in.

Floating-point sums depend on the order of their terms.  coffea merges chunk
outputs as they finish (the process pool, dask's reduction tree), so two runs
of the same configuration would differ in the last bits.  Here each chunk's
output carries its place in the run (its index among the run's chunks), and
outputs are merged along a fixed binary tree over the indices: the block of
chunks ``[j 2^l, (j + 1) 2^l)`` is always (block ``2j`` of level ``l - 1``) +
(block ``2j + 1``), and what is left at the end (a run whose chunk count is no
power of two) is added block after block, from the first chunk.  Every merge
order gives that one sum, so a result is bit for bit the same across
executors, worker counts and resumes.  The cost: a block waits for its
neighbour, so the client holds about log2(chunks) merged outputs, plus one per
chunk that finishes out of order (a resume where every other chunk was kept
holds half the chunks' outputs until the others come).
"""

from __future__ import annotations

from typing import Any

from coffea.processor import accumulate


class ChunkOrder:
    """Outputs of some of a run's chunks, each block of the fixed merge tree kept merged.

    ``ChunkOrder.of(index, output)`` wraps one chunk's output; ``a + b`` merges
    two of them (their chunks must differ); :meth:`result` is the run's output.
    """

    __slots__ = ("blocks",)

    def __init__(self, blocks: dict[tuple[int, int], Any]) -> None:
        self.blocks = blocks  # (level l, index j) -> merged output of chunks [j 2^l, (j + 1) 2^l)

    @classmethod
    def of(cls, index: int, output: Any) -> ChunkOrder:
        return cls({(0, int(index)): output})

    def __add__(self, other: ChunkOrder) -> ChunkOrder:
        if not isinstance(other, ChunkOrder):
            return NotImplemented
        blocks = dict(self.blocks)
        for (level, index), output in other.blocks.items():
            twice = [key for key in blocks if _overlap(key, (level, index))]
            if twice:
                raise ValueError(f"chunks {_chunks((level, index))} merged twice (already in {_chunks(twice[0])}): "
                                 "a chunk's output came twice")
            while (level, index ^ 1) in blocks:  # its neighbour is here: the two make the block above
                neighbour = blocks.pop((level, index ^ 1))
                output = accumulate([neighbour, output] if index & 1 else [output, neighbour])
                level, index = level + 1, index >> 1
            blocks[(level, index)] = output
        return ChunkOrder(blocks)

    def result(self) -> Any:
        """The merged output: the blocks added in the order of their first chunk (None if there is none)."""
        return accumulate([self.blocks[key] for key in sorted(self.blocks, key=lambda key: key[1] << key[0])])

    def __repr__(self) -> str:
        return f"ChunkOrder({len(self.blocks)} block(s))"


def _chunks(block: tuple[int, int]) -> range:
    """The chunk indices of a block ``(level l, index j)``: ``[j 2^l, (j + 1) 2^l)``."""
    level, index = block
    return range(index << level, (index + 1) << level)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    ra, rb = _chunks(a), _chunks(b)
    return ra.start < rb.stop and rb.start < ra.stop
