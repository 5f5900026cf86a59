"""Content negotiation of ``GET /``: the page for browsers, JSON for everyone else.

``prefers_html(accept)`` reads an ``Accept`` header (RFC 9110, section 12.5.1): each
media range with its ``q`` weight; the weight of a type is the one of the most specific
range that matches it (``text/html`` before ``text/*`` before ``*/*``). HTML is chosen only
when it weighs strictly more than JSON, so a missing header, ``*/*`` or a tie answers
JSON, as API clients expect; a browser's ``text/html,...,*/*;q=0.8`` gets the page.
"""

from __future__ import annotations

HTML = ("text", "html")
JSON = ("application", "json")
MAX_RANGES = 32  # media ranges read from one header; the rest are ignored
_CACHE_SIZE = 64  # distinct headers remembered (browsers send the same few)
_CACHE_LENGTH = 512  # longer headers are parsed every time, never kept
_cache: dict[str, bool] = {}


def media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """``(type, subtype, q)`` of each well-formed range of the header (lower case)."""
    ranges = []
    for item in accept.split(",", MAX_RANGES)[:MAX_RANGES]:
        media, *parameters = item.split(";")
        kind, slash, subtype = media.strip().lower().partition("/")
        if not slash or not kind or not subtype:
            continue
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
                if not 0.0 <= weight <= 1.0:  # also NaN
                    weight = 0.0
        ranges.append((kind, subtype.strip(), weight))
    return ranges


def weight(ranges: list[tuple[str, str, float]], media: tuple[str, str]) -> float:
    """The q of ``media`` under ``ranges``: that of the most specific matching range, else 0."""
    best, specificity = 0.0, -1
    for kind, subtype, q in ranges:
        if (kind, subtype) == media:
            rank = 2
        elif kind == media[0] and subtype == "*":
            rank = 1
        elif kind == "*" and subtype == "*":
            rank = 0
        else:
            continue
        if rank > specificity:  # the first of equally specific ranges wins
            best, specificity = q, rank
    return best


def prefers_html(accept: str | None) -> bool:
    """Whether the ``Accept`` header weighs text/html strictly above application/json."""
    if not accept:
        return False
    known = _cache.get(accept)
    if known is not None:
        return known
    ranges = media_ranges(accept)
    answer = weight(ranges, HTML) > weight(ranges, JSON)
    if len(accept) <= _CACHE_LENGTH:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[accept] = answer
    return answer
