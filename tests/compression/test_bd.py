"""BD metrics and mean curves against hand computations: a known shift, overlap, fronts, complete means."""

import math

import numpy as np
import pandas as pd
import pytest

from siren_inr.compression.bd import bd_cell, bd_metrics, bd_table, mean_curves, rd_front
from siren_inr.errors import SirenInrError

ANCHOR = pd.DataFrame({"bpp": [0.1, 0.2, 0.4, 0.8], "psnr_db": [24.0, 26.0, 28.0, 30.0]})


@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_bd_metrics_against_a_known_shift(method):
    # The same curve at 80% of the rate: BD-rate -20%; PSNR is linear in log2(bpp) at 2 dB per octave, so the
    # gain at equal rate is 2 dB * log2(1/0.8).
    test = pd.DataFrame({"bpp": ANCHOR["bpp"] * 0.8, "psnr_db": ANCHOR["psnr_db"]})
    out = bd_metrics(ANCHOR, test, method)
    assert out["bd_rate_percent"] == pytest.approx(-20.0, abs=1e-6)
    assert out["bd_psnr_db"] == pytest.approx(2 * math.log2(1 / 0.8), abs=1e-6)
    assert out["bd_rate_note"] == out["bd_psnr_note"] == "" and out["points"] == 4


def test_bd_uses_only_the_overlapping_range():
    # The test curve covers 0.2-0.4 bpp (27-29 dB), inside the anchor's 0.1-1.6 bpp, 1 dB higher: BD-PSNR is
    # +1 dB and BD-rate 2^(-1/2) - 1, averaged over that common range only.
    anchor = pd.concat([ANCHOR, pd.DataFrame({"bpp": [1.6], "psnr_db": [32.0]})])
    test = pd.DataFrame({"bpp": [0.2, 0.4], "psnr_db": [27.0, 29.0]})
    out = bd_metrics(anchor, test, "pchip")
    assert out["bd_psnr_db"] == pytest.approx(1.0, abs=1e-9)
    # Over PSNR 27-29: log2(anchor rate) = (p - 24)/2 + log2(0.1), log2(test rate) = (p - 27)/2 + log2(0.2).
    assert out["bd_rate_percent"] == pytest.approx((2 ** (-0.5) - 1) * 100, abs=1e-6)


def test_no_overlap_and_too_few_points_are_said_in_words():
    low = pd.DataFrame({"bpp": [0.43, 0.88], "psnr_db": [21.0, 24.0]})
    high = pd.DataFrame({"bpp": [0.9, 2.1], "psnr_db": [28.0, 35.0]})
    out = bd_metrics(high, low, "akima", anchor_name="JPEG", test_name="INR")
    assert math.isnan(out["bd_rate_percent"]) and math.isnan(out["bd_psnr_db"])
    assert out["bd_psnr_note"] == "no overlap: INR 0.43–0.88 bpp, JPEG 0.9–2.1 bpp"
    assert out["bd_rate_note"] == "no overlap: INR 21–24 dB, JPEG 28–35 dB"
    assert bd_cell(out["bd_psnr_db"], out["bd_psnr_note"]) == out["bd_psnr_note"]
    assert bd_cell(-1.234, "", 1) == "-1.2"
    one = bd_metrics(high, low.iloc[:1], "akima", anchor_name="JPEG", test_name="INR")
    assert one["bd_rate_note"] == "INR has 1 point (2 needed)" and one["points"] == 1
    with pytest.raises(SirenInrError, match="accepted: akima"):
        bd_metrics(high, low, "linear")


def test_front_keeps_the_points_that_improve_on_every_smaller_file():
    curve = pd.DataFrame({"bpp": [0.3, 0.1, 0.2, 0.4, np.nan], "psnr_db": [25.0, 22.0, 26.0, 27.0, 30.0]})
    front = rd_front(curve)
    assert front["bpp"].tolist() == [0.1, 0.2, 0.4] and front["psnr_db"].tolist() == [22.0, 26.0, 27.0]
    # Of two files of the same size, only the better one is on the front.
    tie = rd_front(pd.DataFrame({"bpp": [0.1, 0.2, 0.2], "psnr_db": [20.0, 24.0, 25.0]}))
    assert tie["bpp"].tolist() == [0.1, 0.2] and tie["psnr_db"].tolist() == [20.0, 25.0]


def test_mean_curves_only_where_every_image_has_a_point():
    rows = []
    for image, (b1, b2, b3) in {"a": (0.1, 0.2, 0.4), "b": (0.3, 0.5, np.nan)}.items():
        for point, bpp in zip(("q1", "q2", "q3"), (b1, b2, b3)):
            rows.append({"image": image, "kind": "classical", "codec": "jpeg", "point": point, "setting": 1.0,
                         "bpp": bpp, "psnr_db": 20 + 10 * bpp, "ssim": 0.5, "num_bytes": 100})
    table = pd.DataFrame(rows)
    means = mean_curves(table)
    assert means["point"].tolist() == ["q1", "q2"]  # q3 lacks image b: no mean over one image
    assert means["bpp"].tolist() == pytest.approx([0.2, 0.35])
    assert means["psnr_db"].tolist() == pytest.approx([22.0, 23.5])
    assert (means["images"] == 2).all()
    bd = bd_table(table.assign(codec=table["codec"]), ["coin"], ["jpeg"], "pchip")
    assert bd.columns.tolist()[:5] == ["image", "inr_codec", "anchor", "bd_rate_percent", "bd_psnr_db"]
    assert bd.loc[bd["image"] == "mean", "bd_rate_note"].item() == "INR (coin) has 0 points (2 needed)"
