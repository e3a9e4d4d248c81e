"""Rate–distortion study: the INR codec at a ladder of network sizes against classical codecs.

For every image: each ladder point (hidden layers x width) is fitted, quantized, optionally tuned
through the quantized forward, written as a real .inr file and decoded; every classical codec is then
run at the bpp of each INR file (largest file not above it). Per-image and mean curves, BD-PSNR and
BD-rate (`bjontegaard`) of the INR codec against each classical codec, a CSV/Markdown table and
report.md go into the report folder. Tracking goes through the `StudyTracker` protocol; the MLflow
implementation uses siren_inr.tracking (a parent run for the study, a child run per image and point).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from siren_inr.compression.classical import CLASSICAL_CODECS, at_target_bpp, check_codec
from siren_inr.compression.codec import encode_inr, write_inr
from siren_inr.compression.qat import QatSettings, quantization_aware_finetune
from siren_inr.compression.quantize import QuantSettings
from siren_inr.data import PixelField, load_image
from siren_inr.errors import SirenInrError
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model

# COIN's networks, named "5x20 ... 13x49" in the paper, where the count includes the first sine layer.
# In this package's convention (hidden_layers = sine layers after the first) they are 4x20 ... 12x49:
# 1803, 3903, 7479, 15003 and 29697 parameters, i.e. fp16 bpp 0.073, 0.159, 0.304, 0.610, 1.208 on
# 768x512, which is COIN's published rate axis (0.0736, 0.1604, 0.3074, 0.6109, 1.209).
COIN_LADDER: tuple[tuple[int, int], ...] = ((4, 20), (4, 30), (9, 28), (9, 40), (12, 49))
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")
BD_METHODS = ("akima", "pchip", "cubic")
INR_CODEC = "inr"


@dataclass
class RDSettings:
    """Everything one rate–distortion study needs."""

    folder: str  # folder of images (e.g. path/to/kodak)
    output_dir: str = "rd_report"  # report folder (created)
    images: list[str] | None = None  # file names inside `folder` (None: all images, sorted)
    max_images: int | None = None  # only the first N images
    crop: int | None = None  # centre crop of crop x crop pixels (None: full images)
    ladder: list[tuple[int, int]] = field(default_factory=lambda: list(COIN_LADDER))  # (hidden layers, width)
    model_name: str = "siren"
    model_hparams: dict[str, Any] = field(default_factory=dict)  # extra family kwargs (e.g. first_omega_0)
    fit: FitSettings = field(default_factory=lambda: FitSettings(num_epochs=2000, lr=2e-4, progress="none"))
    seed: int = 0
    quant: QuantSettings = field(default_factory=QuantSettings)
    coder: str = "auto"
    qat: QatSettings = field(default_factory=QatSettings)
    codecs: list[str] = field(default_factory=lambda: list(CLASSICAL_CODECS))
    bd_method: str = "akima"
    reference_dir: str | None = None  # published curves (*.json) to overlay on the mean plot

    def validate(self) -> "RDSettings":
        """Raise SirenInrError naming the first bad value."""
        if not Path(self.folder).is_dir():
            raise SirenInrError(f"data.folder={self.folder!r} is not a folder of images")
        if not self.ladder:
            raise SirenInrError("ladder is empty; give (hidden_layers, width) pairs, e.g. [[5,20],[10,28]]")
        for point in self.ladder:
            if (len(point) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in point)):
                raise SirenInrError(f"ladder point {point!r}; accepted: [hidden_layers, width], positive integers")
        for codec in self.codecs:
            check_codec(codec)
        if self.bd_method not in BD_METHODS:
            raise SirenInrError(f"bd_method={self.bd_method!r}; accepted: {', '.join(BD_METHODS)}")
        if self.crop is not None and (isinstance(self.crop, bool) or not isinstance(self.crop, int) or self.crop < 8):
            raise SirenInrError(f"crop={self.crop!r}; accepted: null or an integer >= 8")
        if self.max_images is not None and (not isinstance(self.max_images, int) or self.max_images < 1):
            raise SirenInrError(f"max_images={self.max_images!r}; accepted: null or a positive integer")
        self.fit.validate()
        self.image_paths()  # names the missing images or the empty folder before anything is created
        return self

    def image_paths(self) -> list[Path]:
        """The images of the study, in order."""
        folder = Path(self.folder)
        if self.images:
            paths = [folder / name for name in self.images]
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                raise SirenInrError(f"images not found in {folder}: {', '.join(missing)}")
        else:
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if self.max_images:
            paths = paths[: self.max_images]
        if not paths:
            raise SirenInrError(f"data.folder={self.folder!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return paths

    def as_params(self) -> dict[str, Any]:
        """Flat primitive parameters for tracking."""
        params = {k: v for k, v in asdict(self).items() if k not in ("fit", "quant", "qat", "model_hparams")}
        params["ladder"] = " ".join(f"{d}x{w}" for d, w in self.ladder)
        params["codecs"] = ",".join(self.codecs)
        params.update({f"fit.{k}": v for k, v in self.fit.as_dict().items()})
        params.update({f"quant.{k}": v for k, v in asdict(self.quant).items()})
        params.update({f"qat.{k}": v for k, v in asdict(self.qat).items()})
        params.update({f"model.{k}": v for k, v in self.model_hparams.items()})
        return params


# --- tracking adapter ----------------------------------------------------------------------------


class StudyTracker(Protocol):
    """What the study needs from a tracking backend."""

    def run(self, name: str, params: dict[str, Any], parent: Any | None = None) -> contextlib.AbstractContextManager:
        """A run (a child of `parent` when given); yields a handle for log_metrics/log_artifacts."""

    def log_metrics(self, handle: Any, metrics: dict[str, float]) -> None:
        """Final metrics of a run."""

    def log_artifacts(self, handle: Any, folder: Path, artifact_path: str) -> None:
        """A folder of files into the run's artifacts."""


class NoTracking:
    """Tracker that records nothing (tests, or tracking.enabled=false)."""

    @contextlib.contextmanager
    def run(self, name: str, params: dict[str, Any], parent: Any | None = None) -> Iterator[None]:
        yield None

    def log_metrics(self, handle: Any, metrics: dict[str, float]) -> None:
        pass

    def log_artifacts(self, handle: Any, folder: Path, artifact_path: str) -> None:
        pass


class MlflowTracking:
    """Parent/child MLflow runs through siren_inr.tracking (the only MLflow code)."""

    def __init__(self, uri: str | None, experiment_name: str, tags: dict[str, Any] | None = None) -> None:
        from siren_inr.tracking.store import checked_experiment_name, ensure_store, resolve_tracking_uri

        self.uri = resolve_tracking_uri(uri)
        self.experiment_name = checked_experiment_name(experiment_name)
        self.tags = dict(tags or {})
        ensure_store(self.uri)

    @contextlib.contextmanager
    def run(self, name: str, params: dict[str, Any], parent: Any | None = None) -> Iterator[Any]:
        from siren_inr.tracking.provenance import provenance_tags
        from siren_inr.tracking.run import tracked_run
        from siren_inr.tracking.store import artifact_root_for

        tags = {**provenance_tags(), **self.tags, "kind": "rd-point" if parent else "rd-study"}
        with tracked_run(self.uri, self.experiment_name, run_name=name, tags=tags, params=params,
                         parent_run_id=parent.run_id if parent is not None else None,
                         artifact_location=artifact_root_for(self.uri)) as handle:
            yield handle

    def log_metrics(self, handle: Any, metrics: dict[str, float]) -> None:
        from siren_inr.tracking.run import finite_metrics

        finite = finite_metrics(metrics)
        if finite:
            handle.log_metrics(finite, step=0)

    def log_artifacts(self, handle: Any, folder: Path, artifact_path: str) -> None:
        handle.log_artifacts(folder, artifact_path)


# --- the study -----------------------------------------------------------------------------------


def centre_crop(image: np.ndarray, side: int | None) -> np.ndarray:
    """The central side x side pixels (the whole image when side is None or not smaller)."""
    if side is None:
        return image
    height, width = image.shape[:2]
    side_h, side_w = min(side, height), min(side, width)
    top, left = (height - side_h) // 2, (width - side_w) // 2
    return np.ascontiguousarray(image[top : top + side_h, left : left + side_w])


def ladder_label(depth: int, width: int) -> str:
    """'9x28' for 9 hidden layers of width 28 (COIN's "10x28", which counts the first layer too)."""
    return f"{depth}x{width}"


def inr_point(image: np.ndarray, depth: int, width: int, settings: RDSettings, inr_path: Path) -> dict[str, Any]:
    """Fit, quantize, tune and encode one ladder point; the row of the results table."""
    height, width_px, channels = image.shape
    field_ = PixelField.from_image(image)
    hparams = {"in_features": 2, "out_features": channels, "hidden_features": width, "hidden_layers": depth,
               **settings.model_hparams}
    torch.manual_seed(settings.seed)
    start = time.perf_counter()
    fitted = fit_model(settings.model_name, hparams, field_, settings.fit)
    fit_seconds = time.perf_counter() - start
    model = fitted.model
    qat_before = qat_after = float("nan")
    if settings.qat.steps and settings.quant.mode != "fp32":
        tuned = quantization_aware_finetune(model, field_, settings.quant, settings.qat)
        model, qat_before, qat_after = tuned.model, tuned.psnr_before_db, tuned.psnr_after_db
    encoded = encode_inr(model.cpu(), height, width_px, channels, settings.quant, settings.coder, reference=image)
    write_inr(inr_path, encoded.data)
    return {
        "codec": INR_CODEC, "point": ladder_label(depth, width), "setting": ladder_label(depth, width),
        "num_bytes": encoded.num_bytes, "bpp": encoded.bpp, "psnr_db": encoded.psnr_db, "ssim": encoded.ssim,
        "fit_psnr_db": fitted.final["psnr"], "quant_psnr_db_before_qat": qat_before,
        "quant_psnr_db_after_qat": qat_after, "entropy_method": encoded.decoded.method,
        "fit_seconds": fit_seconds, "num_params": sum(p.numel() for p in model.parameters()),
    }


def classical_row(image: np.ndarray, codec: str, point: str, target_bpp: float) -> dict[str, Any]:
    """The classical codec's largest file not above the INR point's bpp (NaNs when none fits)."""
    found = at_target_bpp(image, codec, target_bpp)
    row: dict[str, Any] = {"codec": codec, "point": point, "target_bpp": target_bpp}
    if found is None:
        row.update(setting=None, num_bytes=np.nan, bpp=np.nan, psnr_db=np.nan, ssim=np.nan)
    else:
        row.update(setting=round(found.quality, 4), num_bytes=found.num_bytes, bpp=found.bpp,
                   psnr_db=found.psnr_db, ssim=found.ssim)
    return row


def bd_metrics(anchor: pd.DataFrame, test: pd.DataFrame, method: str) -> dict[str, float]:
    """BD-rate (% bits, negative = test smaller) and BD-PSNR (dB, positive = test better) of test vs anchor."""
    import bjontegaard

    a = anchor.dropna(subset=["bpp", "psnr_db"]).sort_values("bpp")
    t = test.dropna(subset=["bpp", "psnr_db"]).sort_values("bpp")
    out = {"bd_rate_percent": float("nan"), "bd_psnr_db": float("nan"), "points": int(min(len(a), len(t)))}
    if len(a) < 2 or len(t) < 2:
        return out
    args = (a["bpp"].to_numpy(), a["psnr_db"].to_numpy(), t["bpp"].to_numpy(), t["psnr_db"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, func in (("bd_rate_percent", bjontegaard.bd_rate), ("bd_psnr_db", bjontegaard.bd_psnr)):
            try:
                out[key] = float(func(*args, method=method, require_matching_points=False))
            except (ValueError, ZeroDivisionError, np.linalg.LinAlgError):
                pass
    return out


def mean_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Mean bpp/PSNR/SSIM per codec and ladder point over the images where that point exists."""
    grouped = table.groupby(["codec", "point"], sort=False)
    mean = grouped[["bpp", "psnr_db", "ssim", "num_bytes"]].mean()
    mean["images"] = grouped["psnr_db"].count()
    return mean.reset_index()


def complete_mean_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Mean curves over the points present for every image (COIN's protocol: mean bpp, mean PSNR)."""
    complete = table.groupby(["codec", "point"])["psnr_db"].transform(lambda s: s.notna().all())
    return mean_curves(table[complete.astype(bool)])


def bd_table(table: pd.DataFrame, codecs: Sequence[str], method: str) -> pd.DataFrame:
    """BD metrics of the INR codec against each classical codec: per image and on the mean curves."""
    rows = []
    for image_name, part in table.groupby("image", sort=False):
        test = part[part["codec"] == INR_CODEC]
        for codec in codecs:
            rows.append({"image": image_name, "anchor": codec,
                         **bd_metrics(part[part["codec"] == codec], test, method)})
    means = complete_mean_curves(table)
    for codec in codecs:
        rows.append({"image": "mean", "anchor": codec, **bd_metrics(means[means["codec"] == codec],
                                                                    means[means["codec"] == INR_CODEC], method)})
    return pd.DataFrame(rows)


def load_reference_curves(folder: str | Path | None) -> dict[str, dict[str, list[float]]]:
    """Published curves {name: {'bpp': [...], 'psnr': [...]}} from *.json files (empty if no folder)."""
    if folder is None or not Path(folder).is_dir():
        return {}
    curves = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            results = data["results"]
            curves[str(data.get("name", path.stem))] = {"bpp": list(map(float, results["bpp"])),
                                                         "psnr": list(map(float, results["psnr"]))}
        except (KeyError, TypeError, ValueError, json.JSONDecodeError):
            continue
    return curves


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


_STYLE = {INR_CODEC: ("C3", "o"), "jpeg": ("C0", "s"), "jpeg2000": ("C1", "^"), "webp": ("C2", "D"),
          "avif": ("C4", "v")}


def plot_curves(curves: pd.DataFrame, path: Path, title: str,
                references: dict[str, dict[str, list[float]]] | None = None) -> Path:
    """PSNR-bpp and SSIM-bpp panels for each codec (plus dashed published PSNR curves)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    for codec, part in curves.groupby("codec", sort=False):
        part = part.dropna(subset=["bpp"]).sort_values("bpp")
        color, marker = _STYLE.get(codec, ("k", "x"))
        label = "INR (ours)" if codec == INR_CODEC else codec.upper()
        axes[0].plot(part["bpp"], part["psnr_db"], marker=marker, color=color, label=label)
        axes[1].plot(part["bpp"], part["ssim"], marker=marker, color=color, label=label)
    if references:
        limit = max(1.0, float(np.nanmax(curves["bpp"])) * 1.3) if curves["bpp"].notna().any() else 2.0
        for index, (name, ref) in enumerate(references.items()):
            bpp = np.array(ref["bpp"])
            keep = bpp <= limit
            axes[0].plot(bpp[keep], np.array(ref["psnr"])[keep], linestyle="--", linewidth=1, alpha=0.7,
                         color=f"C{(index + 5) % 10}", label=f"{name} (published, full Kodak)")
    axes[0].set(xlabel="bits per pixel", ylabel="PSNR (dB)", title=f"{title}: PSNR")
    axes[1].set(xlabel="bits per pixel", ylabel="SSIM", title=f"{title}: SSIM")
    for ax in axes:
        ax.grid(alpha=0.3)
    # One legend beside both panels: inside, the published curves would cover our points.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A Markdown table of `frame` (NaN as –, counts as integers, other floats to `digits` places)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = []
        for col in cols:
            value = row[col]
            if isinstance(value, float):
                if math.isnan(value):
                    cells.append("–")
                elif col in ("num_bytes", "images", "points"):
                    cells.append(f"{value:.0f}")
                else:
                    cells.append(f"{value:.{digits}f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class RDResult:
    """Tables of one study and where its report lives."""

    table: pd.DataFrame  # one row per image x codec x ladder point
    means: pd.DataFrame
    bd: pd.DataFrame
    output_dir: Path
    parent_run_id: str | None = None


def _qat_section(table: pd.DataFrame) -> list[str]:
    inr = table[table["codec"] == INR_CODEC]
    if "quant_psnr_db_after_qat" not in inr or inr["quant_psnr_db_after_qat"].isna().all():
        return []
    gain = (inr["quant_psnr_db_after_qat"] - inr["quant_psnr_db_before_qat"]).groupby(inr["point"], sort=False).mean()
    loss = (inr["fit_psnr_db"] - inr["quant_psnr_db_before_qat"]).groupby(inr["point"], sort=False).mean()
    lines = ["## Quantization and quantization-aware tuning", "",
             "Mean over images: PSNR lost by quantizing the fitted weights, and regained by tuning (same file size).",
             "", "| point | quantization loss dB | QAT gain dB |", "|---|---|---|"]
    lines += [f"| {point} | {loss[point]:.3f} | {gain[point]:+.3f} |" for point in gain.index]
    return lines + [""]


def write_report(result: RDResult, settings: RDSettings, seconds: float) -> Path:
    """CSV + Markdown tables, figures and report.md in the output folder."""
    out = result.output_dir
    result.table.to_csv(out / "table.csv", index=False)
    result.means.to_csv(out / "mean_curves.csv", index=False)
    result.bd.to_csv(out / "bd.csv", index=False)
    shown = ["image", "codec", "point", "setting", "num_bytes", "bpp", "psnr_db", "ssim"]
    (out / "table.md").write_text(markdown_table(result.table[shown]) + "\n")
    references = load_reference_curves(settings.reference_dir)
    plot_curves(result.means, out / "plots" / "mean_rd.png", "mean over images", references)
    for image_name, part in result.table.groupby("image", sort=False):
        plot_curves(part, out / "plots" / f"rd_{Path(image_name).stem}.png", image_name)
    mean_bd = result.bd[result.bd["image"] == "mean"][["anchor", "bd_rate_percent", "bd_psnr_db", "points"]]
    crop_note = (f"centre crops of {settings.crop}x{settings.crop} px" if settings.crop else "full images")
    quant = settings.quant
    quant_text = f"{quant.mode}" + (f", {quant.bits} bits (biases and coordinate-input matrices "
                                    f"{quant.sensitive_bits or quant.bits}), "
                                    f"{'per-channel' if quant.per_channel else 'per-tensor'} scales"
                                    if quant.mode == "uniform" else "")
    lines = [
        "# Rate–distortion report", "",
        f"- images: {result.table['image'].nunique()} from `{settings.folder}` ({crop_note})",
        f"- INR: {settings.model_name}, ladder {', '.join(ladder_label(d, w) for d, w in settings.ladder)} "
        f"(hidden layers x width), {settings.fit.num_epochs} full-batch steps at lr {settings.fit.lr}, seed {settings.seed}",
        f"- weights: {quant_text}; entropy coder {settings.coder}; quantization-aware tuning "
        f"{settings.qat.steps} steps at lr {settings.qat.lr}",
        f"- classical codecs at the bpp of each INR file (largest file not above it): {', '.join(settings.codecs)}",
        "- bpp = whole file size in bits / pixels; PSNR and SSIM of the decoded 8-bit image (data_range 1)",
        f"- wall time: {seconds:.0f} s", "",
        "## Mean curves", "", markdown_table(result.means), "",
        f"## BD metrics of the INR codec against each codec ({settings.bd_method} interpolation)", "",
        "BD-rate < 0: the INR codec needs fewer bits for the same PSNR; BD-PSNR > 0: it is better at the same rate. "
        "– : the curves do not overlap in PSNR (BD-rate) or fewer than two points exist; a codec whose smallest "
        "file is above an INR file's rate has no point there (`images` counts the images with a point).",
        "", markdown_table(mean_bd, 3), "",
        "Per image: `bd.csv`. All points: `table.csv` / `table.md`.", "",
        *_qat_section(result.table),
        "## Figures", "", "![mean RD curves](plots/mean_rd.png)", "",
    ]
    if references:
        lines += [f"Dashed: published curves from `{settings.reference_dir}` (mean over the full 24 Kodak "
                  "images; with crops or a subset they are context, not a like-for-like comparison).", ""]
    for image_name in result.table["image"].unique():
        lines.append(f"- [{image_name}](plots/rd_{Path(image_name).stem}.png)")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out / "report.md"


def run_study(settings: RDSettings, tracker: StudyTracker | None = None) -> RDResult:
    """Run the whole study and write its report folder."""
    settings.validate()
    tracker = tracker or NoTracking()
    paths = settings.image_paths()
    out = Path(settings.output_dir)
    (out / "inr").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tracker.run("rd-study", settings.as_params()) as parent:
        for path in paths:
            image = centre_crop(load_image(str(path), None), settings.crop)
            height, width, channels = image.shape
            for depth, width_units in settings.ladder:
                label = ladder_label(depth, width_units)
                params = {"image": path.name, "point": label, "hidden_layers": depth,
                          "hidden_features": width_units, "height": height, "width": width, "channels": channels}
                with tracker.run(f"{path.stem}-{label}", params, parent=parent) as child:
                    inr_file = out / "inr" / f"{path.stem}_{label}.inr"
                    point_rows = [inr_point(image, depth, width_units, settings, inr_file)]
                    target = point_rows[0]["bpp"]
                    point_rows += [classical_row(image, codec, label, target) for codec in settings.codecs]
                    metrics = {}
                    for row in point_rows:
                        row["image"] = path.name
                        for key in ("bpp", "psnr_db", "ssim", "num_bytes"):
                            metrics[f"{row['codec']}/{key}"] = row[key]
                    metrics["inr/fit_psnr_db"] = point_rows[0]["fit_psnr_db"]
                    tracker.log_metrics(child, metrics)
                    rows += point_rows
        columns = ["image", "codec", "point", "setting", "target_bpp", "num_bytes", "bpp", "psnr_db", "ssim"]
        table = pd.DataFrame(rows)
        table = table[columns + [c for c in table.columns if c not in columns]]
        result = RDResult(table, mean_curves(table), bd_table(table, settings.codecs, settings.bd_method), out,
                          getattr(parent, "run_id", None))
        write_report(result, settings, time.perf_counter() - start)
        means = result.means
        summary = {}
        for _, row in means.iterrows():
            summary[f"mean/{row['codec']}/{row['point']}/bpp"] = row["bpp"]
            summary[f"mean/{row['codec']}/{row['point']}/psnr_db"] = row["psnr_db"]
        for _, row in result.bd[result.bd["image"] == "mean"].iterrows():
            summary[f"bd_rate_percent/{row['anchor']}"] = row["bd_rate_percent"]
            summary[f"bd_psnr_db/{row['anchor']}"] = row["bd_psnr_db"]
        tracker.log_metrics(parent, summary)
        tracker.log_artifacts(parent, out, "compression")
    return result
