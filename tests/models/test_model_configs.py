"""conf/model/*.yaml: one per family, every field accepted by build_model, defaults agree with the code."""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
import yaml

from siren_inr.models import build_model, list_models, model_spec
from siren_inr.models.registry import _REGISTRY

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"


def test_one_config_per_family_and_each_builds():
    files = sorted(CONF_DIR.glob("*.yaml"))
    assert [f.stem for f in files] == list_models()
    for path in files:
        text = path.read_text()
        assert text.startswith("# @package model\n"), path
        cfg = yaml.safe_load(text)
        name = cfg.pop("name")
        assert name == path.stem
        assert cfg["out_features"] is None  # the caller fills the channel count
        defaults = inspect.signature(_REGISTRY[name].__init__).parameters
        for key, value in cfg.items():
            # Every field has a "# ..." comment where it is declared.
            line = next(line for line in text.splitlines() if line.startswith(f"{key}:"))
            assert "#" in line, (path.name, key)
            if key != "out_features":
                assert defaults[key].default == value, (name, key)
        cfg.update(out_features=3, hidden_features=8, hidden_layers=1)
        if name == "nerf":
            cfg["sidelength"] = 32
        model = build_model(name, **cfg)
        assert model_spec(model)[0] == name
        assert model(torch.zeros(4, 2)).shape == (4, 3)
