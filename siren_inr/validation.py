"""The common checks of a setting's value, shared by every settings dataclass and job.

Each returns the value it accepts or raises one SirenInrError line naming the setting, the bad value and what is
accepted: `num_epochs=0; accepted: a positive integer up to 1000000000`. A bool is never a number here (Python
counts True as 1, and `num_epochs=true` is a mistake, not one epoch).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any, NoReturn

from siren_inr.errors import SirenInrError


def refuse(name: str, value: Any, accepted: str) -> NoReturn:
    """Raise the one-line error `name=value; accepted: what`."""
    raise SirenInrError(f"{name}={value!r}; accepted: {accepted}")


def is_int(value: Any) -> bool:
    """An integer (Python's or numpy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number (an integer too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _int_range(low: int | None, high: int | None) -> str:
    if low == 1:
        return "a positive integer" + (f" up to {high}" if high is not None else "")
    if low is not None and high is not None:
        return f"an integer from {low} to {high}"
    if low is not None:
        return f"an integer >= {low}"
    return f"an integer <= {high}" if high is not None else "an integer"


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, *, optional: bool = False,
              accepted: str | None = None) -> Any:
    """An integer in [low, high] (either bound may be None; optional: None too)."""
    if optional and value is None:
        return value
    if is_int(value) and (low is None or value >= low) and (high is None or value <= high):
        return value
    refuse(name, value, accepted or ("null or " if optional else "") + _int_range(low, high))


def check_positive_int(name: str, value: Any, high: int | None = None, *, optional: bool = False,
                       accepted: str | None = None) -> Any:
    """A positive integer (up to high; optional: None too)."""
    return check_int(name, value, 1, high, optional=optional, accepted=accepted)


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, optional: bool = False, accepted: str | None = None) -> Any:
    """A finite number in [low, high] ((low, high] with low_open; either bound may be None; optional: None too)."""
    if optional and value is None:
        return value
    if is_number(value) and (low is None or (value > low if low_open else value >= low)) and (
            high is None or value <= high):
        return value
    if accepted is None:
        if low == 0 and low_open and high is None:
            accepted = "a positive finite number"
        elif low is not None and high is not None:
            accepted = f"a number in {'(' if low_open else '['}{low}, {high}]"
        elif low is not None:
            accepted = f"a finite number {'>' if low_open else '>='} {low}"
        else:
            accepted = "a finite number" + (f" <= {high}" if high is not None else "")
        accepted = ("null or " if optional else "") + accepted
    refuse(name, value, accepted)


def check_positive_number(name: str, value: Any, *, optional: bool = False, accepted: str | None = None) -> Any:
    """A positive finite number (optional: None too)."""
    return check_number(name, value, 0, low_open=True, optional=optional, accepted=accepted)


def check_fraction(name: str, value: Any, *, open_ends: bool = False, accepted: str | None = None) -> Any:
    """A share: a number in [0, 1] (in (0, 1) with open_ends)."""
    if is_number(value) and (0 < value < 1 if open_ends else 0 <= value <= 1):
        return value
    refuse(name, value, accepted or ("a number between 0 and 1, both excluded" if open_ends else
                                     "a number from 0 to 1"))


def check_choice(name: str, value: Any, choices: Collection, *, accepted: str | None = None) -> Any:
    """One of `choices` (listed in the error in their order)."""
    bool_refused = isinstance(value, bool) and not any(isinstance(choice, bool) for choice in choices)
    if not isinstance(value, (list, dict)) and not bool_refused and value in choices:
        return value
    refuse(name, value, accepted or ", ".join(str(choice) for choice in choices))


def check_flag(name: str, value: Any, *, optional: bool = False, accepted: str | None = None) -> Any:
    """true or false (optional: None too)."""
    if isinstance(value, bool) or (optional and value is None):
        return value
    refuse(name, value, accepted or ("true, false or null" if optional else "true or false"))
