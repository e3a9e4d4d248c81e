"""Model registry: networks are built by registry name, never by importing a target a file chooses."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from siren_inr.errors import SirenInrError

_REGISTRY: dict[str, type[nn.Module]] = {}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator that registers a network family under `name`."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name].__qualname__}")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return decorate


def list_models() -> list[str]:
    """Names of all registered network families, sorted."""
    return sorted(_REGISTRY)


def accepted_hparams(name: str) -> list[str]:
    """Constructor keyword arguments accepted by the family `name`."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters.values()
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.name != "self" and p.kind in keyword_kinds]


def default_hparams(name: str) -> dict[str, Any]:
    """Every constructor keyword of the family `name` with its default: where its hyperparameters are declared (each
    documented on its line), and what the commands' `model` group starts from (cli/schema.py)."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return {key: params[key].default for key in accepted_hparams(name)
            if params[key].default is not inspect.Parameter.empty}


def _lookup(name: str) -> type[nn.Module]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise SirenInrError(f"unknown model {name!r}; accepted: {', '.join(list_models())}")
    return _REGISTRY[name]


def build_model(name: str, hparams: Mapping[str, Any] | None = None, /, **kwargs: Any) -> nn.Module:
    """Build the registered network `name` from primitive hyperparameters.

    Hyperparameters come as keywords, as a mapping in second position (so that
    `build_model(*model_spec(model))` works), or both.
    """
    cls = _lookup(name)
    merged: dict[str, Any] = dict(hparams or {})
    duplicated = sorted(set(merged) & set(kwargs))
    if duplicated:
        raise SirenInrError(f"hyperparameter(s) {', '.join(duplicated)} given twice for model {name!r}")
    merged.update(kwargs)
    accepted = accepted_hparams(name)
    unknown = sorted(k for k in merged if k not in accepted)
    if unknown:
        raise SirenInrError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for model {name!r}; "
            f"accepted: {', '.join(accepted)}"
        )
    return cls(**merged)


def model_spec(model: nn.Module) -> tuple[str, dict[str, Any]]:
    """Registry name and primitive constructor kwargs that rebuild `model`'s architecture."""
    name = getattr(type(model), "registry_name", None)
    spec = getattr(model, "_spec_hparams", None)
    if name is None or spec is None or _REGISTRY.get(name) is not type(model):
        raise SirenInrError(
            f"{type(model).__qualname__} is not a registered model; accepted families: {', '.join(list_models())}"
        )
    return name, dict(spec)


def hparams_for_image(model_name: str, hparams: Mapping[str, Any], height: int, width: int, channels: int) -> dict:
    """Fill the settings that come from the image: out_features (channels) and nerf's sidelength."""
    hp = {k: v for k, v in hparams.items() if k != "name"}
    out = hp.get("out_features")
    if out is None:
        hp["out_features"] = channels
    elif out != channels:
        raise SirenInrError(f"model.out_features={out} but the image has {channels} channel(s); "
                            f"accepted: null or {channels}")
    if "sidelength" in hp and hp["sidelength"] is None and hp.get("num_frequencies") is None:
        hp["sidelength"] = min(height, width)
    return hp
