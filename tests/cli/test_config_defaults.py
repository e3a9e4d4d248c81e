"""Every setting is declared once: each command's composed config is its schema's defaults (cli/schema.py and the
library's dataclasses) plus exactly what its yaml files state, no yaml line restates a default, and `--help` shows
the values that run."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from siren_inr.cli.config import compose
from siren_inr.cli.schema import SCHEMAS
from siren_inr.cli.settings_help import GroupDefaults, command_settings, config_files
from siren_inr.compression import inr_codecs
from siren_inr.models import default_hparams, list_models

SCHEMA_OF = {"train": "train_schema", "compress": "compress_schema", "rd": "rd_schema", "analyze": "analyze_schema"}
CASES = [
    ("train", []), ("train", ["model=relu"]), ("train", ["trainer=cpu"]), ("train", ["trainer=ddp"]),
    ("train", ["trainer=fast"]), ("train", ["+experiment=reference"]), ("train", ["+experiment=fast_fit"]),
    ("train", ["hparams_search=siren_optuna"]),
    ("compress", []), ("compress", ["inr_codec=latent"]), ("compress", ["inr_codec=siren_pe"]),
    ("compress", ["model=relu"]),
    ("rd", []), ("rd", ["inr_codec=latent"]), ("rd", ["+experiment=rd_cpu"]),
    ("analyze", []),
]


def _stated(package: str, path) -> dict:
    """What one yaml file states, under its package (its defaults list and Hydra's own settings left out); for a
    group's registered defaults, those."""
    if isinstance(path, GroupDefaults):  # a model's constructor defaults, an INR codec's registered defaults
        defaults = (default_hparams(path.option) if path.group == "model_defaults"
                    else dataclasses.asdict(inr_codecs.DEFAULTS[path.option]))
        raw = {"name": path.option, **defaults}
    else:
        raw = OmegaConf.to_container(OmegaConf.load(path)) or {}
        raw = {key: value for key, value in raw.items() if key not in ("defaults", "hydra")}
    for part in reversed(package.split(".") if package else []):
        raw = {part: raw}
    return raw


def _leaves(value, prefix=""):
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _schema(config_name: str):
    name = SCHEMA_OF.get(config_name)
    return OmegaConf.structured(SCHEMAS[name]) if name else OmegaConf.create({})


@pytest.mark.parametrize(("config_name", "overrides"), CASES, ids=[" ".join([c, *o]) for c, o in CASES])
def test_composed_config_is_the_schema_defaults_plus_what_the_yaml_files_state(config_name, overrides):
    expected = _schema(config_name)
    for package, path in config_files(config_name, overrides):
        expected = OmegaConf.merge(expected, _stated(package, path))
    composed = compose(overrides, config_name)
    assert OmegaConf.to_container(composed, resolve=True) == OmegaConf.to_container(expected, resolve=True)


# Every model family and INR codec, each under the command that composes it.
EVERY_GROUP = CASES + [("train", [f"model={name}"]) for name in list_models()] + [("rd", ["inr_codec=siren_pe"])]


# An experiment (+experiment=...) pins its whole recipe, restating on purpose what the command's yaml states.
NO_EXPERIMENT = [(c, o) for c, o in EVERY_GROUP if not any(x.startswith("+experiment=") for x in o)]


@pytest.mark.parametrize(("config_name", "overrides"), NO_EXPERIMENT, ids=[" ".join([c, *o]) for c, o in NO_EXPERIMENT])
def test_no_yaml_line_restates_a_default(config_name, overrides):
    merged = _schema(config_name)
    for package, path in config_files(config_name, overrides):
        stated = _stated(package, path)
        for key, value in _leaves(stated):
            before = OmegaConf.select(merged, key, throw_on_missing=False, throw_on_resolution_failure=False)
            if isinstance(before, type(OmegaConf.create())):
                before = OmegaConf.to_container(before)
            restated = _declared(merged, key) and before == value
            assert not restated, f"{path}: {key}: {value!r} restates the default"
        merged = OmegaConf.merge(merged, stated)


def _declared(merged, key: str) -> bool:
    """Whether the schema (or an earlier file) declares `key`."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(merged, parent) if parent else merged
    return node is not None and leaf in node


@pytest.mark.parametrize(("config_name", "overrides"), EVERY_GROUP, ids=[" ".join([c, *o]) for c, o in EVERY_GROUP])
def test_help_shows_the_defaults_that_run(config_name, overrides):
    composed = dict(_leaves(OmegaConf.to_container(compose(overrides, config_name), resolve=False)))
    shown = command_settings(config_name, overrides)
    assert {s.key for s in shown} == set(composed)
    for setting in shown:
        if setting.shown is None:
            assert setting.value == composed[setting.key] or (
                isinstance(setting.value, dict) and dict(_leaves(setting.value)) == {
                    k[len(setting.key) + 1:]: v for k, v in composed.items() if k.startswith(setting.key + ".")}), \
                setting.key
        assert setting.doc, f"{setting.key} has no documentation"


def test_every_schema_field_is_documented():
    from siren_inr.cli.settings_help import SCHEMA_CLASSES, declared_settings, SCHEMA_MODULE

    for class_name in SCHEMA_CLASSES.values():
        undocumented = [s.key for s in declared_settings(SCHEMA_MODULE, class_name) if not s.doc]
        assert undocumented == [], f"{class_name}: {undocumented}"
    assert dataclasses.is_dataclass(SCHEMAS["train_schema"])
