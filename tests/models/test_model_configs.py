"""conf/model/*.yaml: one per family; a family's hyperparameters are declared once, by its constructor (with a
comment each), and its yaml file states only what differs; each composed model builds."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from omegaconf import OmegaConf

from siren_inr.cli.config import compose
from siren_inr.cli.settings_help import constructor_settings
from siren_inr.models import build_model, default_hparams, list_models, model_spec

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"


def test_one_config_per_family_starting_from_its_constructor():
    files = sorted(CONF_DIR.glob("*.yaml"))
    assert [f.stem for f in files] == list_models()
    for path in files:
        text = path.read_text()
        assert text.startswith("# @package model\n"), path
        stated = yaml.safe_load(text)
        assert stated.pop("defaults") == [f"/model_defaults/{path.stem}@_here_", "_self_"], path
        assert stated == {"out_features": None}, path  # the image's channel count, filled by the job


def test_composed_model_is_the_constructor_defaults_and_builds():
    for name in list_models():
        model = OmegaConf.to_container(compose([f"model={name}"], "train"))["model"]
        assert model == {"name": name, **default_hparams(name), "out_features": None}
        model.pop("name")
        model.update(out_features=3, hidden_features=8, hidden_layers=1)
        if name == "nerf":
            model["sidelength"] = 32
        built = build_model(name, **model)
        assert model_spec(built)[0] == name
        assert built(torch.zeros(4, 2)).shape == (4, 3)


def test_every_constructor_keyword_is_documented_where_it_is_declared():
    for name in list_models():
        read = constructor_settings(name)  # what --help reads from the source, without importing torch
        assert {key: value for key, value, _ in read} == default_hparams(name), name
        undocumented = [key for key, _, doc in read if not doc]
        assert undocumented == [], f"{name}: {undocumented}"
