"""The rate–distortion study on two tiny images: real .inr files, classical curves, mean curves and BD values
against a hand computation, batched fits equal to separate ones, the report."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.interpolate import PchipInterpolator

from siren_inr.cli.config import compose
from siren_inr.compression.classical import sweep_settings
from siren_inr.compression.codec import encode_inr, read_inr
from siren_inr.compression.qat import QatSettings
from siren_inr.compression.quantize import QuantSettings
from siren_inr.data import load_image
from siren_inr.errors import SirenInrError
from siren_inr.fit.settings import FitSettings
from siren_inr.jobs.rd import COIN_LADDER, RDSettings, centre_crop, run_study
from siren_inr.metrics.quality import psnr_db
from siren_inr.models import build_model
from testkit import smooth_image

# COIN's published mean rates on Kodak (768x512), fp16 weights, no entropy coding (Dupont et al. 2021).
COIN_PUBLISHED_BPP = (0.07361, 0.1604, 0.3074, 0.6109, 1.209)


def test_default_ladder_is_coins_networks_at_coins_rates():
    # The default ladder must be COIN's networks, not look-alikes one layer deeper: stored as COIN stores
    # them (fp16, no entropy coding) in a real .inr file, each lands within 1 % of COIN's published bpp.
    assert RDSettings(folder=".").ladder == [tuple(point) for point in COIN_LADDER]
    rd_config = compose([], "rd")
    assert [tuple(point) for point in rd_config.ladder] == list(COIN_LADDER)  # what `siren-inr rd` uses
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
                quant=QuantSettings(bits=8), qat=QatSettings(steps=5, eval_every=5), codecs=["jpeg", "webp"],
                bd_method="pchip", batch_images=True)
    base.update(changes)
    return RDSettings(**base)


@pytest.fixture(scope="module")
def study(folder, tmp_path_factory):
    return run_study(_settings(folder, tmp_path_factory.mktemp("rep")))


def _hand_front(bpp, psnr):
    order = np.lexsort((-np.asarray(psnr), np.asarray(bpp)))  # by bpp; of equal sizes the best first
    keep_b, keep_p, best = [], [], -np.inf
    for b, p in zip(np.asarray(bpp)[order], np.asarray(psnr)[order]):
        if p > best:
            keep_b.append(b)
            keep_p.append(p)
            best = p
    return np.array(keep_b), np.array(keep_p)


def _hand_bd(anchor_bpp, anchor_psnr, test_bpp, test_psnr):
    """BD-rate % and BD-PSNR dB by hand: PCHIP through each front, averaged over the overlap (NaN: none)."""
    ab, ap = _hand_front(anchor_bpp, anchor_psnr)
    tb, tp = _hand_front(test_bpp, test_psnr)
    out = []
    for ax, ay, tx, ty, rate in ((ap, np.log(ab), tp, np.log(tb), True), (np.log(ab), ap, np.log(tb), tp, False)):
        low, high = max(ax.min(), tx.min()), min(ax.max(), tx.max())
        if high <= low:
            out.append(float("nan"))
            continue
        gap = ((PchipInterpolator(tx, ty).integrate(low, high) - PchipInterpolator(ax, ay).integrate(low, high))
               / (high - low))
        out.append((math.exp(gap) - 1) * 100 if rate else gap)
    return out


@pytest.mark.slow
def test_study_writes_real_files_and_classical_curves(study, folder):
    table, out = study.table, study.output_dir
    assert set(table["codec"]) == {"coin", "jpeg", "webp"}
    inr = table[table["codec"] == "coin"]
    assert len(inr) == 2 * 3 and (inr["kind"] == "inr").all()
    # Every INR row is a real file whose decoding gives the reported numbers.
    for _, row in inr.iterrows():
        decoded = read_inr(out / "inr" / f"{row['image'][:-4]}_{row['point']}.inr")
        assert decoded.num_bytes == row["num_bytes"] and decoded.bpp == pytest.approx(row["bpp"])
        original = centre_crop(load_image(str(folder / row["image"]), None), 32)
        assert psnr_db(decoded.image, original) == pytest.approx(row["psnr_db"])
    for codec in ("jpeg", "webp"):
        for image, curve in table[table["codec"] == codec].groupby("image"):
            # Each image's curve starts at the codec's smallest setting and reaches past its largest INR file
            # (or runs to the codec's best setting: WebP's quality 100 is below a 2x20 net on a 32 px crop).
            assert curve["setting"].iloc[0] == sweep_settings(codec)[0]
            assert (curve["bpp"].max() > inr.loc[inr["image"] == image, "bpp"].max()
                    or curve["setting"].iloc[-1] == sweep_settings(codec)[-1])
            # The rate-matched column: the largest swept file not above the INR file.
            for _, row in inr[inr["image"] == image].iterrows():
                fits = curve[curve["bpp"] <= row["bpp"]]
                expected = fits.loc[fits["num_bytes"].idxmax(), "psnr_db"] if len(fits) else np.nan
                assert row[f"{codec}_psnr_db_at_rate"] == pytest.approx(expected, nan_ok=True)


@pytest.mark.slow
def test_mean_curves_and_bd_values_against_a_hand_computation(study):
    table, means, bd = study.table, study.means, study.bd
    inr = table[table["codec"] == "coin"]
    jpeg = table[table["codec"] == "jpeg"]
    # The case: some image's smallest JPEG file is larger than an INR file of it, so JPEG has no
    # point at that INR file's rate; the mean curve must still be the codec's own curve over every image.
    smallest = jpeg.groupby("image")["num_bytes"].min()
    assert any(smallest[name] > inr.loc[inr["image"] == name, "num_bytes"].min() for name in smallest.index)
    assert inr["jpeg_psnr_db_at_rate"].isna().any()
    for codec, part in table.groupby("codec"):
        hand = part.groupby("point", sort=False)[["bpp", "psnr_db"]].mean()
        counts = part.groupby("point", sort=False)["image"].nunique()
        hand = hand[counts == 2]
        mine = means[means["codec"] == codec].set_index("point")
        assert list(mine.index) == list(hand.index)  # a mean point exactly where both images have one
        assert np.allclose(mine["bpp"], hand["bpp"]) and np.allclose(mine["psnr_db"], hand["psnr_db"])
        if codec != "coin":  # the classical mean curve rises with bpp (the artefact of issue 15 is gone); on
            # 32 px files a step of a few bytes can still cost WebP a quarter dB (rd_front drops such points)
            ordered = mine.sort_values("bpp")["psnr_db"].to_numpy()
            assert ordered[-1] > ordered[0] + 10 and (np.diff(ordered) > -0.5).all()
    for codec in ("jpeg", "webp"):
        curves = [(name, table[table["image"] == name]) for name in table["image"].unique()] + [("mean", means)]
        for name, part in curves:
            a, t = part[part["codec"] == codec], part[part["codec"] == "coin"]
            rate, gain = _hand_bd(a["bpp"], a["psnr_db"], t["bpp"], t["psnr_db"])
            row = bd[(bd["image"] == name) & (bd["anchor"] == codec)].iloc[0]
            assert row["inr_codec"] == "coin"
            for value, note, hand in ((row["bd_rate_percent"], row["bd_rate_note"], rate),
                                      (row["bd_psnr_db"], row["bd_psnr_note"], gain)):
                if math.isnan(hand):
                    assert math.isnan(value) and note.startswith("no overlap: INR (coin) ")
                else:
                    assert value == pytest.approx(hand, rel=1e-6, abs=1e-9) and note == ""


@pytest.mark.slow
def test_report_files_and_words(study):
    out = study.output_dir
    for name in ("table.csv", "table.md", "mean_curves.csv", "bd.csv", "report.md", "plots/mean_rd.png",
                 "plots/rd_img0.png", "plots/rd_img1.png"):
        assert (out / name).is_file(), name
    assert pd.read_csv(out / "table.csv").shape[0] == len(study.table)
    bd = pd.read_csv(out / "bd.csv")
    assert bd.columns.tolist()[:5] == ["image", "inr_codec", "anchor", "bd_rate_percent", "bd_psnr_db"]
    assert "points" in bd.columns and set(bd["image"]) == {"img0.png", "img1.png", "mean"}
    report = (out / "report.md").read_text()
    assert "BD-rate" in report and "1x8" in report and "centre crops of 32x32" in report and "QAT gain dB" in report
    assert "nan" not in report.lower()
    assert "Published curves: no published curves: reference_dir is not set" in report


@pytest.mark.slow
def test_batched_fits_equal_separate_fits(folder, tmp_path, study):
    separate = run_study(_settings(folder, tmp_path / "one", batch_images=False, codecs=["jpeg"]))
    batched = study.table[study.table["codec"] == "coin"].set_index(["image", "point"])
    single = separate.table[separate.table["codec"] == "coin"].set_index(["image", "point"])
    assert (batched["fit_batch"] == 2).all() and (single["fit_batch"] == 1).all()
    assert np.allclose(batched["fit_psnr_db"], single.loc[batched.index, "fit_psnr_db"], atol=1e-3)
    assert np.allclose(batched["psnr_db"], single.loc[batched.index, "psnr_db"], atol=0.05)
    # Chunked to the memory a step may use: a step of the 1x8 net on a 40x40 image takes 1600 px x 4 B x
    # (4 + 4 x 19 + 6) = 550 kB with autograd's activations, so 1 MiB holds one image and 2 MiB two; the tiled
    # CPU step keeps only the pixel field per image (1600 px x 4 B x (4 + 6) = 64 kB): 1 MiB holds both.
    untiled = dataclasses.replace(_settings(folder, tmp_path).fit, tiled_step=False)
    for mib, fit, together in ((1, untiled, 1), (2, untiled, 2), (1, _settings(folder, tmp_path).fit, 2)):
        chunked = run_study(_settings(folder, tmp_path / f"chunk{mib}{fit.tiled_step}", crop=None, ladder=[(1, 8)],
                                      batch_memory_mb=mib, codecs=["jpeg"], qat=QatSettings(steps=0), fit=fit))
        assert (chunked.table.loc[chunked.table["codec"] == "coin", "fit_batch"] == together).all()


def test_batching_by_default_on_a_gpu_or_with_the_tiled_cpu_step(folder, tmp_path):
    import dataclasses

    from siren_inr.jobs.rd_points import can_batch

    default = _settings(folder, tmp_path, batch_images=None)
    assert can_batch(default)  # CPU: each image's step tiled, without a Lightning loop per image
    assert not can_batch(dataclasses.replace(default, fit=dataclasses.replace(default.fit, tiled_step=False)))
    assert can_batch(_settings(folder, tmp_path, batch_images=True))
    assert not can_batch(_settings(folder, tmp_path, batch_images=False))


def test_reference_curves_only_on_full_kodak_images(folder, tmp_path):
    from siren_inr.jobs.rd import reference_note

    images = [np.zeros((32, 32, 3)), np.zeros((32, 32, 3))]
    settings = _settings(folder, tmp_path, reference_dir=str(tmp_path))
    assert "centre crops of 32x32" in reference_note(settings, ["kodim01.png", "kodim02.png"], images)
    full = [np.zeros((512, 768, 3)), np.zeros((768, 512, 3))]
    assert reference_note(_settings(folder, tmp_path, crop=None, reference_dir="x"), ["kodim01.png", "kodim04.png"],
                          full) is None
    assert "not full Kodak" in reference_note(_settings(folder, tmp_path, crop=None, reference_dir="x"),
                                              ["a.png", "b.png"], full)


def test_settings_validation(tmp_path, folder):
    with pytest.raises(SirenInrError, match="not a folder"):
        _settings(tmp_path / "missing", tmp_path).validate()
    with pytest.raises(SirenInrError, match="ladder"):
        _settings(folder, tmp_path, ladder=[(0, 8)]).validate()
    with pytest.raises(SirenInrError, match="accepted"):
        _settings(folder, tmp_path, codecs=["gif"]).validate()
    with pytest.raises(SirenInrError, match="inr_codecs"):
        _settings(folder, tmp_path, inr_codecs=["zip"]).validate()
    with pytest.raises(SirenInrError, match="batch_memory_mb"):
        _settings(folder, tmp_path, batch_memory_mb=0).validate()
    with pytest.raises(SirenInrError, match="no images"):
        _settings(tmp_path, tmp_path).image_paths()
    assert [p.name for p in _settings(folder, tmp_path, max_images=1).image_paths()] == ["img0.png"]


@pytest.mark.slow
def test_benford_columns_for_every_file_of_every_codec(study, folder):
    from siren_inr.metrics.benford import BENFORD_JSD_COLUMNS, digit_divergences, digit_reference

    table, out = study.table, study.output_dir
    # Appended after every older column, in table.csv and table.md, finite for every row (INR and classical).
    written = pd.read_csv(out / "table.csv")
    assert written.columns.tolist()[-2:] == list(BENFORD_JSD_COLUMNS) == ["benford_jsd_pixels", "benford_jsd_dct"]
    assert written.columns.tolist()[:9] == ["image", "kind", "codec", "point", "setting", "num_bytes", "bpp",
                                            "psnr_db", "ssim"]
    for key in BENFORD_JSD_COLUMNS:
        assert np.isfinite(written[key]).all() and (written[key] >= 0).all() and (written[key] < 1).all(), key
    assert "benford_jsd_pixels" in (out / "table.md").read_text().splitlines()[0]
    # An INR row's JSDs are those of its .inr file's decoded image against the original.
    row = table[table["codec"] == "coin"].iloc[0]
    decoded = read_inr(out / "inr" / f"{row['image'][:-4]}_{row['point']}.inr")
    original = centre_crop(load_image(str(folder / row["image"]), None), 32)
    expected = digit_divergences(digit_reference(original), decoded.image_u8)
    assert [row[key] for key in BENFORD_JSD_COLUMNS] == pytest.approx([expected[key] for key in BENFORD_JSD_COLUMNS])
    # Mean curves: the older columns unchanged in order, the JSD means appended.
    means = pd.read_csv(out / "mean_curves.csv")
    assert means.columns.tolist() == ["codec", "kind", "point", "setting", "bpp", "psnr_db", "ssim", "num_bytes",
                                      "images", *BENFORD_JSD_COLUMNS]
    hand = table[table["codec"] == "jpeg"].groupby("point", sort=False)["benford_jsd_dct"].mean()
    mine = study.means[study.means["codec"] == "jpeg"].set_index("point")["benford_jsd_dct"]
    assert np.allclose(mine, hand[mine.index])
    # The figure and the report's section.
    assert (out / "plots" / "benford_jsd.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert "## Benford per codec" in report and "![Benford JSD against bpp](plots/benford_jsd.png)" in report
    section = report.split("## Benford per codec")[1].split("## Figures")[0]
    assert all(f"| {codec} " in section for codec in ("coin", "jpeg", "webp"))


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["siren_pe", "latent"])
def test_other_inr_codecs_rows_carry_the_benford_columns(folder, tmp_path, codec):
    from siren_inr.jobs.rd_points import INR_POINTS
    from siren_inr.metrics.benford import BENFORD_JSD_COLUMNS

    settings = _settings(folder, tmp_path, inr_codecs=[codec],
                         fit=FitSettings(num_epochs=3, accelerator="cpu", progress="none"), qat=QatSettings(steps=0))
    image = centre_crop(load_image(str(folder / "img0.png"), None), 16)
    rows = INR_POINTS[codec](["img0.png"], [image], settings, tmp_path)
    assert rows and all(math.isfinite(row[key]) and 0 <= row[key] < 1 for row in rows for key in BENFORD_JSD_COLUMNS)


@pytest.mark.slow
def test_per_codec_settings_and_ladders_reach_the_points(folder, tmp_path):
    from siren_inr.jobs.rd_points import INR_POINTS

    settings = _settings(folder, tmp_path, inr_codecs=["coin", "latent"], qat=QatSettings(steps=0),
                         inr_settings={"latent": {"preset": "mop", "train": {"steps": 4, "candidates": 1}}},
                         inr_ladders={"latent": [{"train": {"lam": 0.05}}, {"train": {"lam": 0.001, "steps": 3}}]})
    settings.validate()
    image = centre_crop(load_image(str(folder / "img0.png"), None), 16)
    rows = INR_POINTS["latent"](["img0.png"], [image], settings, tmp_path)
    assert [r["point"] for r in rows] == ["lam=0.05", "lam=0.001"]
    # preset=mop from inr_settings: the decoder's multiplications are the same at both points and more than lop's.
    default_preset = INR_POINTS["latent"](["img0.png"], [image], _settings(
        folder, tmp_path, inr_codecs=["latent"], inr_settings={"latent": {"train": {"steps": 2, "candidates": 1}}},
        inr_ladders={"latent": [{"train": {"lam": 0.05}}]}), tmp_path)
    assert rows[0]["multiplications_per_pixel"] == rows[1]["multiplications_per_pixel"]
    assert rows[0]["multiplications_per_pixel"] > default_preset[0]["multiplications_per_pixel"]
    assert (tmp_path / "img0_latent_lam=0.05.inr").is_file()
    params = settings.as_params()
    assert '"preset": "mop"' in params["inr_settings"] and "lam" in params["inr_ladders"]


def test_per_codec_settings_are_checked_before_anything_runs(folder, tmp_path):
    cases = [
        (dict(inr_codecs=["coin"], inr_settings={"latent": {}}),
         "inr_settings.latent: 'latent' is not in inr_codecs"),
        (dict(inr_codecs=["coin", "latent"], inr_ladders={"coin": [{}]}),
         "inr_ladders.coin: coin's points are `ladder`"),
        (dict(inr_codecs=["coin"], inr_settings={"coin": {"l1": 0.1}}), "coin: l1=0.1.*no L1 penalty"),
        (dict(inr_codecs=["coin"], inr_settings={"coin": {"num_frequencies": 4}}), "num_frequencies must be null"),
        (dict(inr_codecs=["coin"], inr_settings={"coin": {"qat": {"stesp": 4}}}), "unknown qat setting.*stesp"),
        (dict(inr_codecs=["latent"], inr_settings={"latent": {"train": {"steps": -1}}}), "latent train.steps=-1"),
        (dict(inr_codecs=["siren_pe"], inr_settings={"siren_pe": {"widht": 3}}), "unknown setting"),
        (dict(inr_codecs=["latent"],
              inr_ladders={"latent": [{"train": {"lam": 0.1}}, {"train": {"lam": 0.1, "steps": 9}}]}),
         "two points named lam=0.1"),
        (dict(inr_codecs=["siren_pe"], inr_ladders={"siren_pe": []}), "inr_ladders.siren_pe=\\[\\]"),
        (dict(inr_codecs=["latent"], inr_settings={"latent": 3}), "inr_settings.latent=3"),
    ]
    for changes, message in cases:
        with pytest.raises(SirenInrError, match=message):
            _settings(folder, tmp_path, **changes).validate()


def test_summary_metric_keys_are_valid_mlflow_names():
    from types import SimpleNamespace

    from siren_inr.jobs.rd import _summary

    means = pd.DataFrame([{"codec": "latent", "point": "lam=0.02", "bpp": 0.3, "psnr_db": 25.0}])
    bd = pd.DataFrame([{"image": "mean", "inr_codec": "latent", "anchor": "jpeg", "bd_rate_percent": -5.0,
                        "bd_psnr_db": 0.4}])
    summary = _summary(SimpleNamespace(means=means, bd=bd), ["coin", "latent"])
    assert summary["mean/latent/lam:0.02/bpp"] == 0.3 and summary["bd_rate_percent/latent/jpeg"] == -5.0
    assert all("=" not in key for key in summary)
