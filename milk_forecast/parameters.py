"""Declared parameters: a default and a validity rule side by side, checked in one place.

A stage's knobs are a frozen dataclass whose fields are declared with ``parameter``:
the default (which the notebook's ``parameters`` cell repeats as a literal, a test
keeps the two equal) and a ``Rule`` saying what values make sense. ``check_fields``
runs every rule; the dataclasses call it in ``__post_init__``, so the runner refuses
a bad ``-p`` value before any kernel starts and the notebook refuses it when run by
hand, with the same message: the parameter, the value and the rule.

Standard library only: the runner imports these classes at start-up.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from milk_forecast.run_folder.files import excerpt

_MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


class ParameterError(ValueError):
    """A parameter value that breaks its rule; the message names the parameter and the rule."""


@dataclass(frozen=True)
class Rule:
    """What values a parameter accepts: ``text`` says it in words, ``accepts`` checks it."""

    text: str
    accepts: Callable[[Any], bool]


def parameter(default: Any, rule: Rule) -> Any:
    """A dataclass field with its default and its rule."""
    if isinstance(default, list | dict | set):
        raise TypeError("use a tuple (immutable) default")
    return dataclasses.field(default=default, metadata={"rule": rule})


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(low: float | None = None, high: float | None = None, *, open_: bool = True) -> Rule:
    """A finite number, strictly inside ``(low, high)`` (``open_``) or within ``[low, high]``."""

    def inside(value: Any) -> bool:
        if not _is_real(value):
            return False
        if open_:
            return (low is None or value > low) and (high is None or value < high)
        return (low is None or value >= low) and (high is None or value <= high)

    brackets = "()" if open_ else "[]"
    bounds = f"{brackets[0]}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}{brackets[1]}"
    return Rule(f"a finite number in {bounds}", inside)


def integer(low: int | None = None, high: int | None = None) -> Rule:
    """An integer within ``[low, high]``."""

    def inside(value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (low is None or value >= low)
            and (high is None or value <= high)
        )

    return Rule(
        f"an integer in [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]",
        inside,
    )


BOOLEAN = Rule("true or false", lambda value: isinstance(value, bool))


def is_month(value: Any) -> bool:
    return isinstance(value, str) and bool(_MONTH_RE.fullmatch(value))


MONTH_TEXT = Rule("a month written YYYY-MM", is_month)


def sequence_of(item: Rule, *, min_items: int = 1, unique: bool = False) -> Rule:
    """A list or tuple of at least ``min_items`` values that each follow ``item``."""

    def accepts(value: Any) -> bool:
        if not isinstance(value, list | tuple) or len(value) < min_items:
            return False
        if unique and len({repr(v) for v in value}) != len(value):
            return False
        return all(item.accepts(v) for v in value)

    distinct = "distinct " if unique else ""
    return Rule(f"a list of at least {min_items} {distinct}value(s), each {item.text}", accepts)


def one_of(*choices: Any) -> Rule:
    return Rule(f"one of {', '.join(map(repr, choices))}", lambda value: value in choices)


def none_or(rule: Rule) -> Rule:
    return Rule(f"{rule.text}, or None", lambda value: value is None or rule.accepts(value))


MONTH_OR_NONE = none_or(MONTH_TEXT)


def rules_of(cls: type) -> dict[str, Rule]:
    """Field name -> rule, for the fields declared with ``parameter``."""
    return {
        field.name: field.metadata["rule"]
        for field in dataclasses.fields(cls)
        if "rule" in field.metadata
    }


def defaults_of(cls: type) -> dict[str, Any]:
    """Field name -> default."""
    return {field.name: field.default for field in dataclasses.fields(cls)}


def check_fields(instance: Any) -> None:
    """Raise ``ParameterError`` for the first field whose value breaks its rule."""
    for name, rule in rules_of(type(instance)).items():
        value = getattr(instance, name)
        if not rule.accepts(value):
            raise ParameterError(f"parameter {name!r}: {excerpt(value, 60)} is not {rule.text}")


def frozen(value: Any) -> Any:
    """Lists (from JSON or a notebook literal) as tuples, nested too, so a dataclass stays hashable."""
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value


class Parameters:
    """Mixin of the stages' parameter dataclasses: validation and construction by name."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            object.__setattr__(self, field.name, frozen(getattr(self, field.name)))
        check_fields(self)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Self:
        """An instance from the values of the fields found in ``values`` (a notebook's globals)."""
        names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{name: value for name, value in values.items() if name in names})
