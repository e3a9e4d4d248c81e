"""The INR codec registry: settings by name, each codec's round trip through its own file, the cost counts."""

import dataclasses
import math
import time

import numpy as np
import pytest
import torch

from siren_inr.compression import container, inr_codecs
from siren_inr.compression.codec import decode_inr
from siren_inr.fit import core as fit_core
from siren_inr.data import PixelField
from siren_inr.errors import SirenInrError
from siren_inr.models import build_model

TINY = {
    "coin": {"hidden_features": 8, "hidden_layers": 1, "steps": 20, "qat": {"steps": 5, "eval_every": 5}},
    "siren_pe": {"hidden_features": 8, "hidden_layers": 1, "num_frequencies": 2, "steps": 20,
                 "qat": {"steps": 5, "eval_every": 5}},
    "latent": {"levels": 3, "train": {"steps": 15, "candidates": 2, "warmup_steps": 2}},
}


@pytest.fixture(scope="module")
def image():
    y, x = np.mgrid[0:14, 0:17] / 17.0
    return np.stack([x, y, (x + y) / 2], -1).astype(np.float32)


@pytest.mark.parametrize("name", inr_codecs.INR_CODECS)
def test_each_codec_round_trips_through_its_own_file(name, image):
    data, reconstruction, info = inr_codecs.encode(name, image, inr_codecs.settings_for(name, TINY[name]))
    decoded = decode_inr(data)
    assert np.array_equal(decoded.image_u8, reconstruction)
    assert info["bpp"] == 8 * len(data) / (14 * 17) and info["num_bytes"] == len(data)
    assert info["psnr_db"] == pytest.approx(-10 * np.log10(np.mean((decoded.image - image) ** 2)), abs=1e-3)
    parsed = container.unpack(data)
    assert parsed.codec == name and parsed.version == {"coin": 1, "siren_pe": 2, "latent": 3}[name]
    assert info["multiplications_per_pixel"] > 0


def test_settings_by_name_refuse_unknown_values():
    latent = inr_codecs.settings_for("latent", {"preset": "hop", "train": {"lam": 0.01}})
    assert (latent.preset == "hop" and latent.train.lam == 0.01
            and latent.train.steps == inr_codecs.DEFAULTS["latent"].train.steps)
    with pytest.raises(SirenInrError, match="inr_codec='jpeg' is not known; accepted: coin, siren_pe, latent"):
        inr_codecs.settings_for("jpeg")
    with pytest.raises(SirenInrError, match="unknown setting.*bogus"):
        inr_codecs.settings_for("coin", {"bogus": 1})
    with pytest.raises(SirenInrError, match="unknown train setting.*lamda"):
        inr_codecs.settings_for("latent", {"train": {"lamda": 1}})
    with pytest.raises(SirenInrError, match="lam"):
        inr_codecs.settings_for("latent", {"train": {"lam": -1.0}})
    with pytest.raises(SirenInrError, match="num_frequencies"):
        inr_codecs.settings_for("coin", {"num_frequencies": 4})
    with pytest.raises(SirenInrError, match="lr_schedule"):
        inr_codecs.settings_for("siren_pe", {"lr_schedule": "warp"})
    with pytest.raises(SirenInrError, match="takes LatentCodecSettings"):
        inr_codecs.encode("latent", np.zeros((4, 4, 3)), inr_codecs.DEFAULTS["coin"])


@pytest.mark.parametrize("name", inr_codecs.INR_CODECS)
def test_the_config_group_states_the_defaults(name):
    """Composed into compress (coin's group states compress's own settings, whose defaults are coin's)."""
    from omegaconf import OmegaConf

    from siren_inr.cli.config import compose, inr_codec_choice

    resolved = OmegaConf.to_container(compose([f"inr_codec={name}"], "compress"), resolve=True)
    chosen, group = inr_codec_choice(resolved)
    assert chosen == name and inr_codecs.settings_for(name, group) == inr_codecs.DEFAULTS[name]
    assert set(group) == {f.name for f in dataclasses.fields(inr_codecs.DEFAULTS[name])}


def test_the_registry_owns_names_ids_versions_and_ladders():
    from siren_inr.compression.registry import codec_for_file, inr_codec, inr_codecs as entries

    assert [entry.name for entry in entries()] == list(container.CODEC_IDS) == list(inr_codecs.INR_CODECS)
    for entry in entries():
        assert container.CODEC_IDS[entry.codec_id] == entry.name and codec_for_file(entry.name) is entry
        assert isinstance(entry.defaults, entry.settings_type) and entry.ladder and entry.ladder_varies
        for _, overrides in entry.ladder:  # a point sets exactly what the ladder is said to vary
            flat = {f"{k}.{inner}" if isinstance(v, dict) else k for k, v in overrides.items()
                    for inner in (v if isinstance(v, dict) else [None])}
            assert flat == set(entry.ladder_varies)
    assert [e.name for e in entries() if e.fitted_by_command] == ["coin"]
    assert {e.name: e.container_version for e in entries()} == {"coin": 1, "siren_pe": 2, "latent": 3}
    with pytest.raises(SirenInrError, match="cannot decode; accepted: coin, siren_pe, latent"):
        codec_for_file("jpeg")
    assert inr_codec("coin").point_label(inr_codecs.DEFAULTS["coin"]) == "9x28"


def test_network_multiplications_by_hand():
    siren = build_model("siren", in_features=2, out_features=3, hidden_features=10, hidden_layers=2)
    assert inr_codecs.network_multiplications_per_pixel(siren) == 2 * 10 + 2 * 100 + 10 * 3 + 3 * 10
    pe = build_model("siren_pe", in_features=2, out_features=3, hidden_features=10, hidden_layers=1, num_frequencies=4)
    assert inr_codecs.network_multiplications_per_pixel(pe) == 2 * 4 + 18 * 10 + 100 + 30 + 2 * 10


def test_l1_penalty_shrinks_the_weights(image):
    field = PixelField.from_image(image)
    norms = []
    for l1 in (0.0, 1e-2):
        torch.manual_seed(0)
        model = build_model("siren_pe", in_features=2, out_features=3, hidden_features=8, hidden_layers=1,
                            num_frequencies=2)
        settings = dataclasses.replace(inr_codecs.DEFAULTS["siren_pe"], steps=60, l1=l1)
        inr_codecs.fit_network(model, field, settings)
        norms.append(sum(float(p.detach().abs().sum()) for p in model.parameters() if p.ndim >= 2))
    assert norms[1] < 0.8 * norms[0]


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_fit_network_steps_adam_on_its_schedule(image, schedule, monkeypatch):
    # cosine: lr * (0.01 + 0.99 * (1 + cos(pi s / steps)) / 2) at step s, to 1 % of lr at the end; constant: lr.
    used = []
    adam_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        used.append(self.param_groups[0]["lr"])
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    settings = dataclasses.replace(inr_codecs.DEFAULTS["coin"], steps=12, lr=1e-3, lr_schedule=schedule)
    torch.manual_seed(0)
    model = build_model("siren", in_features=2, out_features=3, hidden_features=8, hidden_layers=1)
    started = time.perf_counter()
    seconds = inr_codecs.fit_network(model, PixelField.from_image(image), settings)
    assert 0 < seconds <= time.perf_counter() - started  # it returns the seconds it spent
    if schedule == "cosine":
        expected = [1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * s / 12))) for s in range(12)]
    else:
        expected = [1e-3] * 12
    assert used == pytest.approx(expected, rel=1e-9)


def test_ladder_points_are_valid_settings_and_merge_with_study_overrides():
    for name, points in inr_codecs.LADDERS.items():
        labels = [label for label, _ in points]
        assert len(set(labels)) == len(labels) >= 2
        for _, overrides in points:
            settings = inr_codecs.settings_for(name, inr_codecs.merged({"train": {"steps": 7}} if name == "latent"
                                                                       else {"steps": 7}, overrides))
            assert (settings.train.steps if name == "latent" else settings.steps) == 7
    assert inr_codecs.merged({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"c": 5}}) == {"a": {"b": 1, "c": 5}, "d": 3}


def test_compress_and_decompress_commands_take_an_inr_codec(tmp_path, in_process):
    from PIL import Image

    y, x = np.mgrid[0:12, 0:16]
    Image.fromarray(np.stack([x * 15, y * 20, (x + y) * 8], -1).astype(np.uint8)).save(tmp_path / "img.png")
    done = in_process(["compress", "img.png", "out.inr", "inr_codec=latent", "inr_codec.levels=2",
                       "inr_codec.train.steps=3", "track=false"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert container.unpack((tmp_path / "out.inr").read_bytes()).codec == "latent"
    done = in_process(["decompress", "out.inr", "dec.png"], tmp_path)
    assert done.returncode == 0, done.stderr
    decoded = np.asarray(Image.open(tmp_path / "dec.png"))
    assert np.array_equal(decoded, decode_inr((tmp_path / "out.inr").read_bytes()).image_u8)
    bad = in_process(["compress", "img.png", "bad.inr", "inr_codec=latent", "inr_codec.train.lam=-1", "track=false"],
                     tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "lam=-1" in bad.stderr
    assert not (tmp_path / "bad.inr").exists()


@pytest.mark.parametrize("name", ["coin", "siren_pe"])
def test_fit_network_tiled_on_the_cpu_fits_what_autograd_fits(image, name, monkeypatch):
    field = PixelField.from_image(image)
    settings = dataclasses.replace(inr_codecs.DEFAULTS[name], steps=30, hidden_features=8, hidden_layers=1)
    arch = {"coin": {}, "siren_pe": {"num_frequencies": 2}}[name]
    fitted = []
    for tiled in (True, False):
        if not tiled:
            monkeypatch.setattr(fit_core, "tiled_step_for", lambda *_: None)
        torch.manual_seed(0)
        model = build_model("siren" if name == "coin" else "siren_pe", in_features=2, out_features=3,
                            hidden_features=8, hidden_layers=1, **arch)
        inr_codecs.fit_network(model, field, settings)
        fitted.append(model)
    for a, b in zip(fitted[0].parameters(), fitted[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


LATENT_BASE = {"levels": 3, "train": {"steps": 60, "candidates": 2, "warmup_steps": 1, "final_fraction": 0.2,
                                         "optimizer": "adam"}}  # a one-step warm-up stage (60 // 60)
LATENT_CHANGES = [
    ("levels", 2), ("preset", "mop"), ("synthesis", "relu"), ("train.lam", 0.05), ("train.steps", 61),
    ("train.lr", 0.03), ("train.final_lr", 0.05), ("train.final_fraction", 0.4), ("train.candidates", 3),
    ("train.warmup_steps", 0), ("train.gain", 4.0), ("train.optimizer", "soap"), ("train.clip", 0.0),
    ("train.weight_decay", 0.5), ("train.seed", 1), ("omega", 3.0),
]


def _group_settings(name: str) -> set[str]:
    """Every setting of the composed `inr_codec=NAME` group (conf/inr_codec/NAME.yaml over the codec's registered
    defaults), nested ones dotted (train.lam, quant.bits)."""
    from omegaconf import OmegaConf

    from siren_inr.cli.config import compose

    group = OmegaConf.to_container(compose([f"inr_codec={name}"], "compress"))["inr_codec"]
    group.pop("name")
    return {f"{key}.{inner}" if isinstance(value, dict) else key for key, value in group.items()
            for inner in (value if isinstance(value, dict) else [None])}


def _change(key: str, value):
    group, _, name = key.rpartition(".")
    return {group: {name: value}} if group else {name: value}


# siren_pe: a base small enough to be quick; a noisy QAT (lr 3e-2) so that which evaluation is kept shows.
PE_BASE = {"hidden_features": 6, "hidden_layers": 1, "num_frequencies": 2, "steps": 12, "coder": "zlib",
           "qat": {"steps": 6, "lr": 3e-2, "eval_every": 3}}
PE_CHANGES = [
    ("hidden_features", 7), ("hidden_layers", 2), ("num_frequencies", 3), ("first_omega_0", 20.0),
    ("hidden_omega_0", 20.0), ("steps", 13), ("lr", 3e-3), ("lr_schedule", "constant"), ("l1", 1e-2),
    ("quant.mode", "fp16"), ("quant.bits", 6), ("quant.per_channel", True), ("quant.sensitive_bits", 10),
    ("coder", "lzma"), ("qat.steps", 5), ("qat.lr", 1e-2), ("qat.eval_every", 1), ("seed", 1),
]


def test_every_siren_pe_setting_of_its_yaml_is_covered_and_changes_the_file(image):
    assert _group_settings("siren_pe") == {key for key, _ in PE_CHANGES}
    base, _, _ = inr_codecs.encode("siren_pe", image, inr_codecs.settings_for("siren_pe", PE_BASE))
    for key, value in PE_CHANGES:
        settings = inr_codecs.settings_for("siren_pe", inr_codecs.merged(PE_BASE, _change(key, value)))
        data, _, _ = inr_codecs.encode("siren_pe", image, settings)
        assert data != base, f"siren_pe {key}={value!r} left the file unchanged"


@pytest.mark.slow
def test_every_latent_setting_of_its_yaml_is_covered_and_changes_the_file(image):
    assert _group_settings("latent") == {key for key, _ in LATENT_CHANGES}
    assert inr_codecs.DEFAULTS["latent"].synthesis == "sine"  # so that omega is in use in the base
    base, _, _ = inr_codecs.encode("latent", image, inr_codecs.settings_for("latent", LATENT_BASE))
    for key, value in LATENT_CHANGES:
        group, _, name = key.rpartition(".")
        change = {group: {name: value}} if group else {name: value}
        data, _, _ = inr_codecs.encode("latent", image,
                                       inr_codecs.settings_for("latent", inr_codecs.merged(LATENT_BASE, change)))
        assert data != base, f"latent {key}={value!r} left the file unchanged"
