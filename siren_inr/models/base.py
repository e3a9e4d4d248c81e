"""Base class and hyperparameter validation shared by every network family."""

from __future__ import annotations

from typing import Any

from torch import nn

from siren_inr.errors import SirenInrError
from siren_inr.validation import is_int, is_number


class InrModel(nn.Module):
    """A coordinate network that records the primitive kwargs it was built from (see `model_spec`)."""

    registry_name: str

    def _record_spec(self, **hparams: Any) -> None:
        # Record the *resolved* values (e.g. nerf's derived frequency count), so rebuilding from the
        # spec never depends on defaults or derivations that might change later.
        for key, value in hparams.items():
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise TypeError(f"spec value {key}={value!r} is not a primitive")
        self._spec_hparams = dict(hparams)


def positive_int(name: str, value: Any, model: str, *, allow_zero: bool = False) -> int:
    """Validate an integer hyperparameter that must be > 0 (or >= 0 with allow_zero)."""
    lowest = 0 if allow_zero else 1
    if not is_int(value) or int(value) < lowest:
        kind = "non-negative" if allow_zero else "positive"
        hint = " (fill it from the image's channel count)" if name == "out_features" and value is None else ""
        raise SirenInrError(f"model {model!r}: {name} must be a {kind} integer, got {value!r}{hint}")
    return int(value)


def positive_float(name: str, value: Any, model: str) -> float:
    """Validate a finite real hyperparameter that must be > 0."""
    if not is_number(value) or float(value) <= 0:
        raise SirenInrError(f"model {model!r}: {name} must be a positive finite number, got {value!r}")
    return float(value)


def boolean(name: str, value: Any, model: str) -> bool:
    """Validate a boolean hyperparameter (true/false only, not 0/1 or strings)."""
    if not isinstance(value, bool):
        raise SirenInrError(f"model {model!r}: {name} must be true or false, got {value!r}")
    return value


def common_sizes(model: str, in_features: Any, out_features: Any, hidden_features: Any,
                 hidden_layers: Any) -> tuple[int, int, int, int]:
    """Validate the four size kwargs every family shares."""
    return (
        positive_int("in_features", in_features, model),
        positive_int("out_features", out_features, model),
        positive_int("hidden_features", hidden_features, model),
        positive_int("hidden_layers", hidden_layers, model),
    )
