"""Declared parameters: a default and a validity rule side by side, checked in one place.

A stage's knobs are a frozen dataclass of ``parameter`` fields (the default, which the
notebook's ``parameters`` cell repeats as a literal, and a ``Rule``). The rules run in
``__post_init__``, so the runner refuses a bad ``-p`` value before any kernel starts and
the notebook refuses it when run by hand, with the same message. Standard library only:
the runner imports these classes at start-up."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from milk_forecast.run_folder.files import excerpt
from milk_forecast.run_folder.layout import RUN_JSON, RunFolderError
from milk_forecast.run_folder.predictions import is_month_text
from milk_forecast.run_folder.record import RUNNING, effective_status, read_run_record


class ParameterError(ValueError):
    """A parameter value that breaks its rule; the message names the parameter and the rule."""


@dataclass(frozen=True)
class Rule:
    """What values a parameter accepts: ``text`` says it in words, ``accepts`` checks it."""

    text: str
    accepts: Callable[[Any], bool]


def parameter(default: Any, rule: Rule) -> Any:
    """A dataclass field with its default and its rule."""
    return dataclasses.field(default=default, metadata={"rule": rule})


def number(low: float, high: float | None = None) -> Rule:
    """A finite number strictly between ``low`` and ``high`` (None: no upper bound)."""

    def inside(value: Any) -> bool:
        real = isinstance(value, int | float) and not isinstance(value, bool)
        return real and math.isfinite(value) and low < value and (high is None or value < high)

    return Rule(f"a finite number in ({low}, {'inf' if high is None else high})", inside)


def integer(low: int, high: int) -> Rule:
    """An integer from ``low`` to ``high``."""

    def inside(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    return Rule(f"an integer in [{low}, {high}]", inside)


BOOLEAN = Rule("true or false", lambda value: isinstance(value, bool))


MONTH_TEXT = Rule("a month written YYYY-MM", is_month_text)


def sequence_of(
    item: Rule, most: int | None = None, same: Callable[[Any], object] = repr, alike: str = ""
) -> Rule:
    """A list or tuple of 1 to ``most`` values (None: no limit), each following ``item``,
    no two alike: the same ``same(value)`` (``alike`` says how, in words)."""

    def accepts(value: Any) -> bool:
        if not isinstance(value, list | tuple) or not 0 < len(value) <= (most or len(value)):
            return False
        return all(item.accepts(v) for v in value) and len(set(map(same, value))) == len(value)

    count = f"1 to {most}" if most else "at least 1"
    return Rule(f"a list of {count} distinct value(s){alike}, each {item.text}", accepts)


def one_of(*choices: Any) -> Rule:
    return Rule(f"one of {', '.join(map(repr, choices))}", lambda value: value in choices)


def none_or(rule: Rule) -> Rule:
    return Rule(f"{rule.text}, or None", lambda value: value is None or rule.accepts(value))


def frozen(value: Any) -> Any:
    """Lists (from JSON or a notebook literal) as tuples, nested too, so a dataclass stays hashable."""
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value


class Parameters:
    """Mixin of the stages' parameter dataclasses: validation and construction by name."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = frozen(getattr(self, field.name))
            object.__setattr__(self, field.name, value)
            rule = field.metadata["rule"]
            if not rule.accepts(value):
                raise ParameterError(
                    f"parameter {field.name!r}: {excerpt(value, 60)} is not {rule.text}"
                )

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Self:
        """An instance from the values of the fields found in ``values`` (a notebook's globals)."""
        names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{name: value for name, value in values.items() if name in names})


def stage_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` as a folder a stage may write in: a scratch folder, or the run the
    pipeline is running now. A finished run's folder is refused (an executed notebook
    rerun by hand from its run folder): nothing changes a run after the runner made it."""
    folder = Path(run_dir)
    if not (folder / RUN_JSON).exists():
        return folder
    try:
        status = effective_status(read_run_record(folder))
    except RunFolderError:
        status = "its run.json is unreadable"
    if status == RUNNING:
        return folder
    raise ParameterError(
        f"parameter 'run_dir': {excerpt(str(run_dir), 60)} is the folder of run "
        f"{folder.resolve().name} ({status}), and running a notebook by hand must not change "
        "a run: set run_dir to a scratch folder (the committed notebooks write to runs/manual), "
        "or work on a copy of the run folder without its run.json"
    )
