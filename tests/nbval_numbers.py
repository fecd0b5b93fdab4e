"""nbval's output comparison with a tolerance on decimal numbers, for the smoke copies in tests/notebooks.

The smoke profile trains small networks for a few steps. The same code on another CPU (other SIMD
kernels in torch's convolutions and matrix products) ends a few tenths of a percent away: measured
between two machines, 1.3729 vs 1.3727, 47.69 vs 47.75, 6.35 vs 6.36. Compared as text, every
machine but the one that built the copies fails. Here a checked output passes when its text
outside the numbers is the same, every integer is the same, and every decimal number is within
:data:`RELATIVE` of the reference or :data:`LAST_DIGITS` units of its last printed digit.
A change of method moves the smoke numbers by more than that, and counts, labels and identification
rates (0.65 vs 0.70) still have to match exactly.
"""

from __future__ import annotations

import re
from typing import Any

#: Largest relative difference of a decimal number that still counts as the same.
RELATIVE: float = 0.01
#: ... or this many units of the last printed digit (for numbers near zero).
LAST_DIGITS: int = 2

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _close(ref: str, test: str) -> bool:
    """Whether the printed numbers ``ref`` and ``test`` are the same within the tolerance."""
    if "." not in ref and "e" not in ref.lower():
        return ref == test  # integers: counts, epochs, indices
    decimals = len(ref.split(".")[1].lower().split("e")[0]) if "." in ref else 0
    a, b = float(ref), float(test)
    return abs(a - b) <= max(RELATIVE * abs(a), LAST_DIGITS * 10.0 ** -decimals)


def same_within_tolerance(ref: str, test: str) -> bool:
    """Whether ``test`` reads as ``ref``: the same text around the numbers, and each number close to its reference."""
    if ref == test:
        return True
    ref_numbers, test_numbers = _NUMBER.findall(ref), _NUMBER.findall(test)
    if _NUMBER.split(ref) != _NUMBER.split(test) or len(ref_numbers) != len(test_numbers):
        return False
    return all(_close(r, t) for r, t in zip(ref_numbers, test_numbers))


def _texts(output: dict[str, Any]) -> list[tuple[dict, str]]:
    """(container, key) of every text an output holds: a stream's text, or plain text data."""
    if output.get("output_type") == "stream":
        return [(output, "text")]
    data = output.get("data", {})
    return [(data, "text/plain")] if isinstance(data.get("text/plain"), str) else []


def align(test: list[dict[str, Any]], ref: list[dict[str, Any]]) -> None:
    """Give each text of ``test`` that reads as its reference (:func:`same_within_tolerance`) the reference's text."""
    for t, r in zip(test, ref):
        if t.get("output_type") != r.get("output_type") or t.get("name") != r.get("name"):
            continue
        for (t_box, key), (r_box, r_key) in zip(_texts(t), _texts(r)):
            if key == r_key and isinstance(t_box.get(key), str) and same_within_tolerance(r_box[r_key], t_box[key]):
                t_box[key] = r_box[r_key]


def install() -> None:
    """Make nbval compare cell outputs through :func:`align` first."""
    from nbval.plugin import IPyNbCell

    original = IPyNbCell.compare_outputs
    if getattr(original, "_tolerant", False):
        return

    def compare_outputs(self, test, ref, skip_compare=None):
        align(test, ref)
        return original(self, test, ref, skip_compare)

    compare_outputs._tolerant = True
    IPyNbCell.compare_outputs = compare_outputs
