"""The rate–distortion study on two tiny images: tables, BD metrics, report files, real .inr files."""

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from siren_inr.cli.hydra_support import conf_dir
from siren_inr.compression.codec import encode_inr, read_inr
from siren_inr.compression.qat import QatSettings
from siren_inr.compression.quantize import QuantSettings
from siren_inr.compression.rd import (
    COIN_LADDER,
    RDSettings,
    bd_metrics,
    centre_crop,
    load_reference_curves,
    run_study,
)
from siren_inr.data import load_image
from siren_inr.errors import SirenInrError
from siren_inr.fit.settings import FitSettings
from siren_inr.metrics.quality import psnr_db
from siren_inr.models import build_model
from testkit import smooth_image


# COIN's published mean rates on Kodak (768x512), fp16 weights, no entropy coding (Dupont et al. 2021).
COIN_PUBLISHED_BPP = (0.07361, 0.1604, 0.3074, 0.6109, 1.209)


def test_default_ladder_is_coins_networks_at_coins_rates():
    # The default ladder must be COIN's networks, not look-alikes one layer deeper: stored as COIN stores
    # them (fp16, no entropy coding) in a real .inr file, each lands within 1 % of COIN's published bpp.
    assert RDSettings(folder=".").ladder == [tuple(point) for point in COIN_LADDER]
    rd_yaml = yaml.safe_load((conf_dir() / "rd.yaml").read_text())
    assert [tuple(point) for point in rd_yaml["ladder"]] == list(COIN_LADDER)  # what `siren-inr rd` uses
    for (depth, width), published in zip(COIN_LADDER, COIN_PUBLISHED_BPP):
        model = build_model("siren", in_features=2, out_features=3, hidden_layers=depth, hidden_features=width)
        encoded = encode_inr(model, 512, 768, 3, QuantSettings(mode="fp16"), "raw")
        assert encoded.bpp == pytest.approx(published, rel=0.01), (depth, width)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("images")
    for seed in (0, 1):
        pixels = (smooth_image(40, channels=3, seed=seed) * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(path / f"img{seed}.png")
    (path / "notes.txt").write_text("not an image")
    return path


def _settings(folder, out, **changes):
    base = dict(folder=str(folder), output_dir=str(out), crop=32, ladder=[(1, 8), (2, 12), (2, 20)],
                fit=FitSettings(num_epochs=40, lr=1e-3, accelerator="cpu", progress="none", log_every_n_steps=40),
                quant=QuantSettings(bits=8), qat=QatSettings(steps=5, eval_every=5), codecs=["jpeg", "webp"])
    base.update(changes)
    return RDSettings(**base)


def test_study_writes_consistent_tables_files_and_report(folder, tmp_path):
    result = run_study(_settings(folder, tmp_path / "rep"))
    table = result.table
    assert len(table) == 2 * 3 * 3 and set(table["codec"]) == {"inr", "jpeg", "webp"}
    inr = table[table["codec"] == "inr"]
    # Every INR row is a real file whose decoding gives the reported numbers.
    for _, row in inr.iterrows():
        decoded = read_inr(tmp_path / "rep" / "inr" / f"{row['image'][:-4]}_{row['point']}.inr")
        assert decoded.num_bytes == row["num_bytes"] and decoded.bpp == pytest.approx(row["bpp"])
        original = centre_crop(load_image(str(folder / row["image"]), None), 32)
        assert psnr_db(decoded.image, original) == pytest.approx(row["psnr_db"])
    # Classical points never exceed the INR file's rate at the same point.
    merged = table[table["codec"] != "inr"].merge(inr[["image", "point", "bpp"]], on=["image", "point"],
                                                  suffixes=("", "_inr"))
    fits = merged.dropna(subset=["bpp"])
    assert (fits["bpp"] <= fits["bpp_inr"] + 1e-9).all()
    # Mean curves are the per-point means of the table.
    means = result.means.set_index(["codec", "point"])
    expected = inr.groupby("point")["psnr_db"].mean()
    for point, value in expected.items():
        assert means.loc[("inr", point), "psnr_db"] == pytest.approx(value)
    # BD rows: per image and mean, against each codec.
    assert set(result.bd["anchor"]) == {"jpeg", "webp"} and "mean" in set(result.bd["image"])
    for name in ("table.csv", "table.md", "mean_curves.csv", "bd.csv", "report.md", "plots/mean_rd.png",
                 "plots/rd_img0.png", "plots/rd_img1.png"):
        assert (tmp_path / "rep" / name).is_file(), name
    assert pd.read_csv(tmp_path / "rep" / "table.csv").shape[0] == len(table)
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "BD-rate" in report and "1x8" in report and "centre crops of 32x32" in report
    assert "QAT gain dB" in report


def test_bd_metrics_against_a_known_shift():
    anchor = pd.DataFrame({"bpp": [0.1, 0.2, 0.4, 0.8], "psnr_db": [24.0, 26.0, 28.0, 30.0]})
    # The same curve at 80% of the rate: BD-rate -20%, and a PSNR gain of 2 dB * log2(1/0.8) per octave.
    test = pd.DataFrame({"bpp": anchor["bpp"] * 0.8, "psnr_db": anchor["psnr_db"]})
    out = bd_metrics(anchor, test, "pchip")
    assert out["bd_rate_percent"] == pytest.approx(-20.0, abs=0.5)
    assert out["bd_psnr_db"] == pytest.approx(2 * math.log2(1 / 0.8), abs=0.05)
    assert math.isnan(bd_metrics(anchor.iloc[:1], test, "pchip")["bd_rate_percent"])


def test_reference_curves_and_settings_validation(tmp_path, folder):
    (tmp_path / "a.json").write_text('{"name": "X", "results": {"bpp": [0.1, 0.2], "psnr": [20, 22]}}')
    (tmp_path / "broken.json").write_text("{")
    assert load_reference_curves(tmp_path) == {"X": {"bpp": [0.1, 0.2], "psnr": [20.0, 22.0]}}
    assert load_reference_curves(tmp_path / "missing") == {}
    with pytest.raises(SirenInrError, match="not a folder"):
        _settings(tmp_path / "missing", tmp_path).validate()
    with pytest.raises(SirenInrError, match="ladder"):
        _settings(folder, tmp_path, ladder=[(0, 8)]).validate()
    with pytest.raises(SirenInrError, match="accepted"):
        _settings(folder, tmp_path, codecs=["gif"]).validate()
    with pytest.raises(SirenInrError, match="no images"):
        _settings(tmp_path, tmp_path).image_paths()
    assert [p.name for p in _settings(folder, tmp_path, max_images=1).image_paths()] == ["img0.png"]
