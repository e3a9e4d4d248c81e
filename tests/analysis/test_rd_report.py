"""RD report helpers: falls along a curve, BD cells in words, the rate-matched columns."""

import numpy as np
import pandas as pd

from siren_inr.analysis.rd_report import bd_text_table, classical_curve_table, falls, inr_mean_table


def test_falls_counts_points_below_a_smaller_file_not_repeats():
    curve = pd.DataFrame({"bpp": [0.1, 0.1, 0.2, 0.3, 0.4], "psnr_db": [20.0, 20.0, 22.0, 21.5, 23.0],
                          "point": list("abcde")})
    assert falls(curve) == 1  # 0.3 bpp at 21.5 dB is below 0.2 bpp at 22 dB; the repeated file is no fall
    assert falls(curve.drop(index=3)) == 0
    table = classical_curve_table(curve.assign(codec="jpeg"), ["jpeg"])
    assert (table.loc[0, "distinct files"] == 4
            and table.loc[0, "PSNR rises with bpp"].startswith("along its front; 1 setting"))


def test_bd_cells_are_numbers_or_reasons():
    bd = pd.DataFrame({"image": ["mean"], "inr_codec": ["coin"], "anchor": ["jpeg"], "bd_rate_percent": [np.nan],
                       "bd_psnr_db": [-1.234], "points": [3], "bd_rate_note": ["no overlap: INR 1–2 dB, JPEG 3–4 dB"],
                       "bd_psnr_note": [""]})
    text = bd_text_table(bd)
    assert text.loc[0, "BD-rate %"] == "no overlap: INR 1–2 dB, JPEG 3–4 dB" and text.loc[0, "BD-PSNR dB"] == "-1.23"


def test_rate_matched_columns_say_how_many_images_have_a_file():
    table = pd.DataFrame({"image": ["a", "b"], "codec": ["coin", "coin"], "point": ["1x8", "1x8"],
                          "jpeg_psnr_db_at_rate": [30.0, np.nan], "webp_psnr_db_at_rate": [np.nan, np.nan]})
    means = pd.DataFrame({"codec": ["coin"], "point": ["1x8"], "bpp": [0.5], "psnr_db": [25.0], "ssim": [0.8]})
    row = inr_mean_table(table, means, ["coin"], ["jpeg", "webp"]).iloc[0]
    assert row["jpeg PSNR at ≤ rate"] == "30.00 (1 of 2 images)"
    assert row["webp PSNR at ≤ rate"] == "– (smallest file above)"


def test_benford_tables_and_figure_from_mean_curves(tmp_path):
    from siren_inr.analysis.rd_figures import plot_benford_jsd
    from siren_inr.analysis.rd_report import benford_codec_table, benford_point_table

    rows = [{"codec": "coin", "kind": "inr", "point": p, "bpp": b, "psnr_db": 25.0 + b, "benford_jsd_pixels": j,
             "benford_jsd_dct": 2 * j} for p, b, j in (("1x8", 0.2, 1e-3), ("2x12", 0.4, 5e-4))]
    rows += [{"codec": "jpeg", "kind": "classical", "point": str(q), "bpp": 0.05 * q, "psnr_db": 20.0 + q,
              "benford_jsd_pixels": 1e-3 / q, "benford_jsd_dct": 3e-3} for q in range(1, 31)]
    means = pd.DataFrame(rows)
    summary = benford_codec_table(means, ["coin"], ["jpeg"])
    assert summary["codec"].tolist() == ["coin", "jpeg"]  # closest to the originals' DCT digits first
    coin = summary.iloc[0]
    assert coin["mean JSD DCT"] == "1.50e-03" and coin["JSD pixels, smallest → largest file"] == "1.00e-03 → 5.00e-04"
    # JPEG only within the study's rates (up to 1.6 x 0.4 bpp, the largest INR rate), plus one point beyond.
    assert summary.iloc[1]["points"] == 13 and summary.iloc[1]["bpp"] == "0.050–0.650"
    points = benford_point_table(means, ["coin"], ["jpeg"], per_codec=4)
    assert points["codec"].tolist() == ["coin", "coin", "jpeg", "jpeg", "jpeg", "jpeg"]
    assert points.loc[points["codec"] == "jpeg", "point"].tolist() == ["1", "5", "9", "13"]  # spread over them
    path = plot_benford_jsd(means, tmp_path / "plots" / "benford_jsd.png", "two codecs", ["coin"])
    assert path.is_file() and path.stat().st_size > 10_000
