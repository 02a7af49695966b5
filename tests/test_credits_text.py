"""Credits text: the exact sum, written the one way JSON and CSV both write it.

``format_micro`` cuts the digits of most sums instead of dividing them (the
export writes one per row); the answer must be the same text either way.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from creditmeter.credits import MAX_TOTAL_MICRO, MICRO, format_micro


@given(st.integers(min_value=0, max_value=MAX_TOTAL_MICRO))
@example(0)
@example(1)
@example(MICRO - 1)
@example(MICRO)
@example(MICRO + 1)
@example(10 * MICRO)
@example(MAX_TOTAL_MICRO)
def test_credits_text_is_the_exact_sum_with_no_trailing_zero_beyond_one(micro: int) -> None:
    text = format_micro(micro)
    whole, point, fraction = text.partition(".")
    assert point and whole.isdigit() and fraction.isdigit()
    assert whole == "0" or not whole.startswith("0")
    assert fraction == "0" or not fraction.endswith("0")
    assert Decimal(text) * MICRO == micro
