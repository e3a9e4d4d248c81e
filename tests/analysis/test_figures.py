"""The figures a reader decodes (issue 22, item 5): comparison.png's error map and titles, the seeds of a history
overlay, the RD figures' titles, codec names, colours and notes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from siren_inr.analysis.figures import history_overlay_figure, overlay_styles  # noqa: E402
from siren_inr.analysis.rd_figures import (codec_colours, codec_name, image_size_label,  # noqa: E402
                                           rd_curves_figure, rd_title)
from siren_inr.analysis.run_figures import SAFE_COLOURS, comparison_figure, error_map  # noqa: E402

OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _images(seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.random((16, 16, 3)).astype(np.float32)
    guess = np.clip(truth + rng.normal(0, 0.01, truth.shape), 0, 1).astype(np.float32)
    guess[4, 5] = 1 - truth[4, 5]  # one visibly wrong pixel
    return truth, guess


def test_comparison_has_an_error_map_that_finds_the_wrong_pixel():
    truth, guess = _images()
    fig = comparison_figure(truth, guess, {"mse": 1e-4, "psnr": 37.1, "ssim": 0.99}, "siren on cameraman")
    try:
        images = [ax for ax in fig.axes if ax.get_images()]
        assert len(images) == 3, "ground truth, prediction and the error map"
        errors = images[2].get_images()[0].get_array()
        assert np.unravel_index(np.argmax(errors), errors.shape) == (4, 5)
        assert len(fig.axes) == 4, "the error map carries a colour bar (its scale)"
        assert "error" in images[2].get_title()
    finally:
        plt.close(fig)
    np.testing.assert_allclose(error_map(truth, truth), 0)
    grey = truth[..., :1]
    assert error_map(grey, np.clip(grey + 0.1, 0, 1)).shape == (16, 16)  # a grey image's map is its own error


def test_comparison_titles_do_not_collide():
    truth, guess = _images()
    fig = comparison_figure(truth, guess, {"mse": 1e-4, "psnr": 37.1, "ssim": 0.99},
                            "a long figure title naming the model and its image, as the train job writes it")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_images()]
        boxes.append(fig._suptitle.get_window_extent(renderer))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not _overlap(a, b)
        # The panel titles sit above their images.
        for ax in fig.axes:
            if ax.get_images():
                assert ax.title.get_window_extent(renderer).y0 >= ax.get_window_extent(renderer).y1 - 1
    finally:
        plt.close(fig)


def test_every_seed_of_an_overlay_has_its_own_colour_and_marker():
    labels = [f"width=64 seed={s}" for s in range(4)] + [f"width=32 seed={s}" for s in range(4)]
    groups = ["width=64"] * 4 + ["width=32"] * 4
    styles = overlay_styles(labels, groups)
    assert len({s["color"] for s in styles}) == 8
    assert len({s["marker"] for s in styles}) == 8
    assert {s["linestyle"] for s in styles[:4]} != {s["linestyle"] for s in styles[4:]}
    history = pd.DataFrame({"epoch": np.arange(30.0), "train_loss": np.linspace(1, 0.1, 30),
                            "train_psnr": np.linspace(10, 30, 30), "train_ssim": np.linspace(0.1, 0.9, 30)})
    fig = history_overlay_figure([history] * 8, labels, groups)
    try:
        lines = fig.axes[1].get_lines()
        assert len({(to_hex(line.get_color()), line.get_marker()) for line in lines}) == 8
        assert len({line.get_marker() for line in lines}) == 8
        assert [text.get_text() for text in fig.legends[0].get_texts()] == labels
    finally:
        plt.close(fig)


def _curves(size: int | None = 64) -> pd.DataFrame:
    rows = []
    for codec in ("coin", "latent", "jpeg", "jpeg2000", "webp", "avif", "jxl", "heic"):
        for point, bpp in enumerate((0.3, 0.6, 1.2)):
            row = {"image": "a.png", "codec": codec, "point": point, "bpp": bpp, "psnr_db": 25 + 4 * point,
                   "ssim": 0.7 + 0.1 * point, "num_bytes": bpp * 64 * 64 / 8}
            if size:
                row.update(height=size, width=size)
            rows.append(row)
    return pd.DataFrame(rows)


def test_codec_names_as_the_readme_writes_them():
    assert [codec_name(c) for c in ("jpeg", "jpeg2000", "webp", "avif", "jxl", "heic")] == [
        "JPEG", "JPEG 2000", "WebP", "AVIF", "JPEG XL", "HEIC"]
    fig = rd_curves_figure(_curves(), "a.png", ["coin", "latent"])
    try:
        labels = fig.axes[0].get_legend_handles_labels()[1]
        assert labels == ["INR coin (ours)", "INR latent (ours)", "JPEG", "JPEG 2000", "WebP", "AVIF", "JPEG XL",
                          "HEIC"]
    finally:
        plt.close(fig)


def test_every_codec_and_reference_has_a_distinct_colour_blind_safe_colour():
    codecs = ["jpeg", "coin", "jpeg2000", "webp", "avif", "jxl", "heic", "latent", "siren_pe"]
    colours = codec_colours(codecs, ["coin", "siren_pe", "latent"], ["Cool-chic", "COIN++"])
    assert len(set(colours.values())) == len(colours) == 11
    assert set(colours.values()) <= set(SAFE_COLOURS)
    # A study of two INR codecs and the six classical ones: Okabe-Ito and one Tol colour; never the faint yellow.
    eight = codec_colours([c for c in codecs if c != "siren_pe"], ["coin", "latent"])
    assert {colour.lower() for colour in eight.values()} <= (OKABE_ITO - {"#f0e442"}) | {"#882255"}
    # The same codecs get the same colours whatever order the table lists them in (figures of one study agree).
    assert codec_colours(list(reversed(codecs)), ["coin", "siren_pe", "latent"]) == \
        codec_colours(codecs, ["coin", "siren_pe", "latent"])
    # JPEG and the latent codec were two similar blues; drawn now, every line of a figure differs.
    references = {"Cool-chic": {"bpp": [0.2, 1.0], "psnr": [26.0, 33.0], "label": "Cool-chic (same 64 px crops)"}}
    fig = rd_curves_figure(_curves(), "a.png", ["coin", "latent"], references)
    try:
        lines = [line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]
        assert len({to_hex(line.get_color()) for line in lines}) == len(lines) == 9
        reference = [line for line in lines if line.get_label() == "Cool-chic (same 64 px crops)"]
        assert reference and reference[0].get_linestyle() == "--"
    finally:
        plt.close(fig)


def test_rd_titles_say_the_image_size():
    assert image_size_label(_curves(64)) == "64x64 px"
    partly = _curves(64)
    partly.loc[partly["codec"] == "jpeg", ["height", "width"]] = np.nan  # rows without the columns' values
    assert image_size_label(partly) == "64x64 px"
    means = _curves(None).drop(columns="image")
    assert image_size_label(means) == "64x64 px", "a mean curve: bytes over bpp"
    uneven = means.copy()
    uneven.loc[0, "num_bytes"] *= 1.5  # images of different sizes: no single size to state
    assert image_size_label(uneven) is None
    assert rd_title("mean over 4 images", means, "256 px crops") == "mean over 4 images, 256 px crops"
    fig = rd_curves_figure(means, "mean over 4 images", ["coin", "latent"])
    try:
        assert fig._suptitle.get_text() == "mean over 4 images, 64x64 px"
        assert [ax.get_title() for ax in fig.axes] == ["PSNR", "SSIM"]
    finally:
        plt.close(fig)


@pytest.mark.parametrize("note", ["per image: published curves are means over Kodak, not drawn",
                                  "dashed: published means over all 24 full Kodak images; this study has 4 of them. "
                                  * 4])
def test_rd_settings_note_lies_under_the_panels(note):
    fig = rd_curves_figure(_curves(), "a.png", ["coin", "latent"], note=note)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        texts = [t for t in fig.texts if t.get_text().replace("\n", " ").strip() == note.strip()]
        assert len(texts) == 1
        box = texts[0].get_window_extent(renderer)
        figure_box = fig.bbox
        assert box.x0 >= figure_box.x0 and box.x1 <= figure_box.x1 and box.y0 >= figure_box.y0
        for ax in fig.axes:
            assert box.y1 <= ax.get_tightbbox(renderer).y0, "the note is under each panel and its axis labels"
    finally:
        plt.close(fig)
