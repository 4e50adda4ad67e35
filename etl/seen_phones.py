"""Which phones of a file's earlier frames a frame repeats, in a fixed amount of memory.

The phones met so far are kept as one bit per phone hash (a Bloom filter of one hash function),
16 MiB whatever the file's size. A phone an earlier frame held is always flagged; a phone met for
the first time is flagged by chance at the share of bits set: about 0.7% of the rows after a
million distinct phones, 7% after ten million. A flag only asks the merge to look the row's phone
up (`etl.chunk_merge`), so a false one costs a lookup and never a wrong answer, and the rows
without a flag, nearly all of them, need no lookup at all.
"""

from __future__ import annotations

import polars as pl

_BITS = 1 << 27  # 16 MiB of bits
_SEED = 0x5EED


class SeenPhones:
    """The phones of the frames marked so far; frames must be marked in file order."""

    def __init__(self, bits: int = _BITS) -> None:
        if not 0 < bits <= 1 << 32 or bits & (bits - 1):
            raise ValueError(f"the number of bits must be a power of two up to 2**32, not {bits}")
        self._mask = bits - 1
        self._bits = pl.Series("seen", [False], dtype=pl.Boolean).extend_constant(False, bits - 1)

    def mark(self, phones: pl.Series) -> pl.Series:
        """Whether each phone may have been in an earlier frame (never False for one that was),
        then remember them all. A phone repeated within `phones` is not flagged for that."""
        slots = (phones.hash(seed=_SEED) & self._mask).cast(pl.UInt32)
        seen = self._bits.gather(slots).alias("seen")
        self._bits.scatter(slots, True)
        return seen
