"""The study against published per-image curves: BD per image and on the mean curves, the files it reads and
skips, reference_bd.csv and the report section."""

import json

import numpy as np
import pandas as pd
import pytest

from siren_inr.analysis.rd_reference import (REFERENCE_BD_COLUMNS, SECTION_TITLE, compare_with_references,
                                             image_key, load_per_image_references, reference_section,
                                             reference_summary)
from siren_inr.compression.bd import mean_curves

BPP = [0.1, 0.25, 0.5, 0.9, 1.5]
# Published per-image curves (all at the same rates, as Cool-chic's lambdas give nearly): kodim03 is not published.
PUBLISHED = {"kodim01": [22.0, 24.5, 27.0, 29.0, 31.0], "kodim02": [26.0, 28.5, 30.5, 32.0, 33.5],
             "kodim03": [27.0, 29.0, 31.5, 33.5, 35.0]}


def _reference_folder(tmp_path):
    folder = tmp_path / "reference"
    folder.mkdir()
    mean_psnr = np.mean(list(PUBLISHED.values()), axis=0).tolist()
    (folder / "good.json").write_text(json.dumps({"name": "Good 1.0", "results": {
        "lambda": [0.02, 0.01, 0.004, 0.001, 0.0005], "bpp": BPP, "psnr": mean_psnr,
        "per_image": {key: {"bpp": BPP, "psnr": PUBLISHED[key]} for key in ("kodim01", "kodim02")}}}))
    (folder / "broken.json").write_text("{not json")
    (folder / "uneven.json").write_text(json.dumps({"name": "Uneven", "results": {
        "bpp": BPP, "psnr": mean_psnr, "per_image": {"kodim01": {"bpp": BPP, "psnr": [20.0, 21.0]}}}}))
    (folder / "nulls.json").write_text(json.dumps({"name": "Nulls", "results": {
        "bpp": BPP, "psnr": mean_psnr, "per_image": {"kodim01": {"bpp": BPP, "psnr": [None] * 5}}}}))
    (folder / "mean_only.json").write_text(json.dumps({"name": "Mean only",
                                                       "results": {"bpp": BPP, "psnr": mean_psnr}}))
    return folder


def _study(shift_db=1.0):
    """A study table: coin = every published image curve shifted up by `shift_db` at the same rates."""
    rows = [{"image": f"{key}.png", "kind": "inr", "codec": "coin", "point": f"p{i}", "setting": f"p{i}", "bpp": bpp,
             "psnr_db": psnr + shift_db, "ssim": 0.9, "num_bytes": 100}
            for key, curve in PUBLISHED.items() for i, (bpp, psnr) in enumerate(zip(BPP, curve))]
    table = pd.DataFrame(rows)
    return table, mean_curves(table)


def test_reads_per_image_files_and_skips_malformed_ones(tmp_path):
    references = load_per_image_references(_reference_folder(tmp_path))
    # Broken JSON, uneven and null curves are skipped; a mean curve alone has nothing to compare per image.
    assert [r.name for r in references] == ["Good 1.0"]
    assert sorted(references[0].per_image) == ["kodim01", "kodim02"]
    assert references[0].per_image["kodim01"].columns.tolist() == ["bpp", "psnr_db"]
    assert load_per_image_references(None) == [] and load_per_image_references(tmp_path / "missing") == []
    assert image_key("kodim01.png") == "kodim01"


def test_a_curve_one_db_above_the_published_one_has_bd_psnr_plus_one(tmp_path):
    table, means = _study(1.0)
    folder = _reference_folder(tmp_path)
    bd = compare_with_references(table, means, folder, ["coin"], "akima")
    assert bd.columns.tolist() == REFERENCE_BD_COLUMNS
    assert bd["image"].tolist() == ["kodim01.png", "kodim02.png", "mean"]  # kodim03 is not published: no row
    assert (bd["reference"] == "Good 1.0").all() and (bd["inr_codec"] == "coin").all()
    assert bd["bd_psnr_db"].to_numpy() == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
    assert (bd["bd_rate_percent"] < 0).all() and (bd["points"] == 5).all()
    assert (bd["bd_psnr_note"] == "").all() and (bd["bd_rate_note"] == "").all()
    below = compare_with_references(*_study(-0.5), folder, ["coin"], "pchip")
    assert below["bd_psnr_db"].to_numpy() == pytest.approx([-0.5] * 3, abs=1e-6)


def test_summary_and_section_text(tmp_path):
    table, means = _study(1.0)
    bd = compare_with_references(table, means, _reference_folder(tmp_path), ["coin"])
    bd.loc[1, ["bd_rate_percent", "bd_rate_note"]] = [np.nan, "no overlap: INR 1–2 dB, Good 1.0 3–4 dB"]
    row = reference_summary(bd).iloc[0]
    assert row["INR codec"] == "coin" and row["reference"] == "Good 1.0"
    assert row["mean per-image BD-PSNR dB"] == "+1.00" and row["images with BD-PSNR"] == "2 of 2"
    assert row["images with BD-rate"] == "1 of 2"  # the image without a BD-rate is left out of the mean
    assert row["mean per-image BD-rate %"] == f"{bd.loc[0, 'bd_rate_percent']:+.1f}"
    assert row["BD-PSNR dB, mean curves"] == "+1.00"
    text = "\n".join(reference_section(bd, None, "ref", "akima", 3))
    assert text.startswith(SECTION_TITLE) and "| coin" in text and "| 2 of 2" in text and "nan" not in text.lower()
    why = reference_section(None, "published Kodak curves not drawn: this study's images are not full Kodak images",
                            "ref", "akima", 3)
    assert why[2] == "Not compared: published Kodak curves not drawn: this study's images are not full Kodak images."
    none = reference_section(bd.iloc[:0], None, "ref", "akima", 3)
    assert none[2].startswith("Not compared: no reference file in `ref` has per-image curves")


def test_write_report_writes_reference_bd_csv_and_the_section(tmp_path):
    from siren_inr.analysis.rd_report import write_report
    from siren_inr.compression.bd import bd_table

    table, _ = _study(1.0)
    table = table[table["image"] != "kodim03.png"]  # two images: two quick plots
    means = mean_curves(table)
    bd = bd_table(table, ["coin"], [], "akima", means)
    folder, out = _reference_folder(tmp_path), tmp_path / "report"
    out.mkdir()
    kwargs = dict(description=["test"], inr_codecs=["coin"], codecs=[], bd_method="akima", reference_dir=str(folder))
    write_report(out, table, means, bd, reference_note=None, **kwargs)  # older callers: computed in the report
    written = pd.read_csv(out / "reference_bd.csv", keep_default_na=False)
    assert written.columns.tolist() == REFERENCE_BD_COLUMNS
    assert written["image"].tolist() == ["kodim01.png", "kodim02.png", "mean"]
    report = (out / "report.md").read_text()
    assert f"{SECTION_TITLE}\n" in report and "+1.00" in report.split(SECTION_TITLE)[1]
    # Crops: the published curves do not compare; no CSV (not even an old one) and the reason in one line.
    write_report(out, table, means, bd, reference_note="published Kodak curves not drawn: centre crops", **kwargs)
    assert not (out / "reference_bd.csv").exists()
    assert "Not compared: published Kodak curves not drawn: centre crops." in (out / "report.md").read_text()


def _crop_folder(tmp_path, images=("kodim01", "kodim02", "kodim03")):
    """A peer measured on 256 px crops (a `crop` key) beside the full-image published file."""
    folder = _reference_folder(tmp_path)
    per_image = {key: {"bpp": BPP, "psnr": [p - 2.0 for p in PUBLISHED[key]]} for key in images}
    (folder / "peer.json").write_text(json.dumps({"name": "Peer", "crop": 256, "results": {
        "bpp": BPP, "psnr": [0.0] * 5, "per_image": per_image}}))
    (folder / "bad_crop.json").write_text(json.dumps({"name": "Bad crop", "crop": "256", "results": {
        "bpp": BPP, "psnr": [0.0] * 5, "per_image": per_image}}))
    return folder


def test_a_crop_reference_compares_only_with_a_study_of_the_same_crops(tmp_path):
    folder = _crop_folder(tmp_path)
    table, means = _study(1.0)
    # A full-image study sees the published file only; a 256 px study the peer only (a malformed crop is skipped).
    assert [r.name for r in load_per_image_references(folder)] == ["Good 1.0"]
    assert [r.name for r in load_per_image_references(folder, 256, ["kodim01.png"])] == ["Peer"]
    assert load_per_image_references(folder, 128, ["kodim01.png"]) == []
    bd = compare_with_references(table, means, folder, ["coin"], "akima", crop=256)
    assert bd["reference"].unique().tolist() == ["Peer"]
    assert bd["image"].tolist() == ["kodim01.png", "kodim02.png", "kodim03.png", "mean"]
    # 3 dB above the peer on every image; its mean is taken over the study's images (the file's own is ignored)
    assert bd["bd_psnr_db"].to_numpy() == pytest.approx([3.0] * 4, abs=1e-6)


def test_a_crop_reference_missing_a_study_image_has_no_mean_row_number(tmp_path):
    from siren_inr.analysis.rd_figures import load_reference_curves

    folder = _crop_folder(tmp_path, images=("kodim01",))
    table, means = _study(1.0)
    bd = compare_with_references(table, means, folder, ["coin"], "akima", crop=256)
    assert bd["image"].tolist() == ["kodim01.png", "mean"]
    mean = bd[bd["image"] == "mean"].iloc[0]
    assert np.isnan(mean["bd_rate_percent"]) and "1 of 3 have a curve" in mean["bd_rate_note"]
    names = [f"{k}.png" for k in PUBLISHED]
    assert load_reference_curves(folder, 256, names) == {}  # no mean curve to draw either
    drawn = load_reference_curves(folder, 256, ["kodim01.png"])
    assert drawn["Peer"]["psnr"] == pytest.approx([p - 2.0 for p in PUBLISHED["kodim01"]])
    assert "same 256 px crops" in drawn["Peer"]["label"]
    assert "Peer" not in load_reference_curves(folder) and "Good 1.0" in load_reference_curves(folder)
