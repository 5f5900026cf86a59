"""Numbers written as the real raw files write them, traps included: the synthetic sample's
formats (the inverse of ``parsing``). The central bank export grouped digits by dots and
lost the decimal point; some of its large integers also lost trailing zeros."""

from __future__ import annotations


def dotted_digits(digits: str) -> str:
    """Group a digit string in threes from the right: ``10546824`` -> ``10.546.824``."""
    return f"{int(digits):,}".replace(",", ".")


def broken_number(value: float) -> str:
    """An index as the export wrote it: 9 significant digits, decimal point and trailing zeros
    lost, grouped by dots: ``97.8554365`` -> ``978.554.365``, ``105.46824`` -> ``10.546.824``."""
    decimals = max(9 - len(str(int(value))), 0)
    digits = f"{value:.{decimals}f}".replace(".", "").lstrip("0").rstrip("0")
    if len(digits) < 4:  # e.g. exactly 100: too few digits to place the point, nudge
        return broken_number(value + 10.0**-decimals)
    return dotted_digits(digits)


def broken_integer(value: float) -> str:
    """A large integer in the dotted format: ``579846819`` -> ``579.846.819``; one ending in
    0 would lose that zero, as in the real export, so it is bumped by one."""
    number = round(value)
    return dotted_digits(str(number + 1 if number % 10 == 0 else number))


def lost_zeros_integer(value: float, zeros: int) -> str:
    """``value`` rounded to end in ``zeros`` zeros, written without them, as the export
    sometimes did: ``550593262`` with one zero -> ``55.059.326``."""
    number = round(value, -zeros)
    if number % 10 ** (zeros + 1) == 0:  # one zero more would be lost: keep exactly ``zeros``
        number += 10**zeros
    return dotted_digits(str(int(number))[:-zeros])


def plain_number(value: float, decimals: int) -> str:
    """``value`` with at most ``decimals`` decimals, trailing zeros dropped (0 -> ``0``)."""
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")
