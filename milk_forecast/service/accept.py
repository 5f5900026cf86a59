"""Content negotiation of ``GET /``: the page for a browser, JSON for everyone else.

``Accept`` is read as RFC 9110 (12.5.1) says: a type weighs the ``q`` of the most specific
range matching it (``text/html``, then ``text/*``, then ``*/*``). HTML wins only when it
weighs strictly more than JSON: a missing header, ``*/*`` or a tie answers JSON.
"""

from __future__ import annotations

MAX_RANGES = 32  # media ranges read from one header; the rest are ignored


def weights(accept: str) -> dict[tuple[str, str], float]:
    """``(type, subtype) -> q`` of the well-formed ranges (the first of each counts)."""
    ranges: dict[tuple[str, str], float] = {}
    for item in accept.lower().split(",", MAX_RANGES)[:MAX_RANGES]:
        media, *parameters = item.split(";")
        kind, _, subtype = (part.strip() for part in media.partition("/"))
        q = [
            value
            for name, _, value in (p.partition("=") for p in parameters)
            if name.strip() == "q"
        ]
        try:
            weight = float(q[0]) if q else 1.0
        except ValueError:
            weight = 0.0
        if kind and subtype:
            ranges.setdefault((kind, subtype), weight if 0.0 <= weight <= 1.0 else 0.0)
    return ranges


def prefers_html(accept: str | None) -> bool:
    """Whether the ``Accept`` header weighs text/html strictly above application/json."""
    ranges = weights(accept or "")

    def weight(kind: str, subtype: str) -> float:
        keys = [(kind, subtype), (kind, "*"), ("*", "*")]
        return next((ranges[key] for key in keys if key in ranges), 0.0)

    return weight("text", "html") > weight("application", "json")
