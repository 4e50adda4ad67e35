"""The copying sessions' memory of the phones of earlier frames (etl.seen_phones)."""

from __future__ import annotations

import polars as pl
import pytest

from etl.seen_phones import SeenPhones


def phones(first: int, count: int) -> pl.Series:
    return pl.Series("phone", [str(79_000_000_000 + k * 7_919) for k in range(first, first + count)])


def test_a_phone_of_an_earlier_frame_is_always_flagged() -> None:
    seen = SeenPhones(bits=1 << 12)  # small: many slots are shared, and still no repeat is missed
    assert seen.mark(phones(0, 1_000)).sum() == 0  # nothing was marked before this frame
    again = seen.mark(pl.concat([phones(500, 1_000), phones(0, 10)]))
    assert again.len() == 1_010
    # rows 0..499 and the last ten repeat phones of the first frame
    assert again.head(500).all() and again.tail(10).all()


def test_new_phones_are_flagged_only_at_the_share_of_bits_set() -> None:
    seen = SeenPhones(bits=1 << 20)
    first = seen.mark(phones(0, 10_000))
    assert first.sum() == 0  # nothing was marked before
    new = seen.mark(phones(10_000, 10_000))
    # 10,000 of 1,048,576 bits set: about 1% of new phones share a slot by chance
    assert new.sum() < 300


def test_a_repeat_within_one_frame_is_not_flagged_for_it() -> None:
    seen = SeenPhones(bits=1 << 20)
    frame = pl.concat([phones(0, 5), phones(0, 5)])
    assert seen.mark(frame).sum() == 0
    assert seen.mark(phones(0, 5)).all()


@pytest.mark.parametrize("bits", [0, 3, 1000, 1 << 33])
def test_the_size_is_a_power_of_two(bits: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        SeenPhones(bits=bits)
