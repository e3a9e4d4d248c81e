"""The rate–distortion study: INR codecs at a ladder of rates against classical codecs swept over their range.

For every image, each INR codec's points (coin: each ladder point fitted, quantized, tuned through the
quantized forward, written as a real .inr file and decoded; the images of one point fitted together in one
batched network), then every classical codec on its own curve: swept from its smallest file past the
image's largest INR file, at the same settings on every image. Mean curves, BD-rate and BD-PSNR follow the
published protocol (`compression.bd`); tables, plots and report.md go into the report folder
(`analysis.rd_report`). Tracking goes through the `StudyTracker` protocol; `MlflowTracking` records a parent
run for the study and a child run per image and point through siren_inr.tracking.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from siren_inr.analysis.rd_reference import compare_with_references, load_per_image_references
from siren_inr.analysis.rd_report import write_report
from siren_inr.compression.bd import bd_table, check_method, mean_curves
from siren_inr.compression.classical import CLASSICAL_CODECS, check_codec
from siren_inr.compression.inr_codecs import study_points as inr_study_points
from siren_inr.compression.qat import QatSettings
from siren_inr.compression.network.codecs import COIN_DEFAULTS, COIN_NETWORKS
from siren_inr.compression.quantize import QuantSettings
from siren_inr.compression.registry import inr_codec, inr_codec_names
from siren_inr.data import load_image
from siren_inr.errors import SirenInrError
from siren_inr.validation import check_flag, check_int, check_positive_int, is_int
from siren_inr.fit.settings import FitSettings
from siren_inr.jobs.rd_points import (INR_POINTS, add_rate_matches, can_batch, classical_points, ladder_label,
                                      with_fitted_codec_settings)
from siren_inr.metrics.benford import BENFORD_JSD_COLUMNS, DCT_BLOCK, digit_references

# COIN's networks (4x20 ... 12x49 here, "5x20 ... 13x49" in the paper, which counts the first sine layer): fp16
# bpp 0.073 ... 1.208 on 768x512, COIN's published rate axis (0.0736, 0.1604, 0.3074, 0.6109, 1.209).
COIN_LADDER: tuple[tuple[int, int], ...] = COIN_NETWORKS
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")
KODAK_NAME = re.compile(r"kodim\d\d\.png$")
KODAK_SHAPES = ((512, 768), (768, 512))


@dataclass
class RDSettings:
    """Everything one rate–distortion study needs."""

    folder: str  # folder of images (e.g. path/to/kodak)
    output_dir: str = "rd_report"  # report folder (created)
    images: list[str] | None = None  # file names inside `folder` (None: all images, sorted)
    max_images: int | None = None  # only the first N images
    crop: int | None = None  # centre crop of crop x crop pixels (None: full images)
    ladder: list[tuple[int, int]] = field(default_factory=lambda: list(COIN_LADDER))  # (hidden layers, width)
    model_name: str = "siren"  # the coin codec's network family
    model_hparams: dict[str, Any] = field(default_factory=dict)  # extra family kwargs (e.g. first_omega_0)
    fit: FitSettings = field(default_factory=lambda: FitSettings(num_epochs=COIN_DEFAULTS.steps, lr=COIN_DEFAULTS.lr,
                                                                  progress="none"))  # COIN's fit
    seed: int = COIN_DEFAULTS.seed  # initial weights of every network (the same for every image and point)
    quant: QuantSettings = field(default_factory=lambda: replace(COIN_DEFAULTS.quant))  # weights of the .inr files
    coder: str = COIN_DEFAULTS.coder  # entropy coder of the .inr files
    qat: QatSettings = field(default_factory=lambda: replace(COIN_DEFAULTS.qat))  # quantization-aware tuning
    codecs: list[str] = field(default_factory=lambda: list(CLASSICAL_CODECS))  # classical codecs, each swept
    inr_codecs: list[str] = field(default_factory=lambda: ["coin"])  # INR codecs compared (registry names)
    # Per INR codec: settings for all its points (over num_epochs and the codec's defaults; for a codec the study
    # fits itself, coin, over the study's fit, seed, quant, coder and QAT), and, but for coin (whose points are
    # `ladder`), its points, each a mapping of setting overrides (missing: the codec's registered ladder).
    inr_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    inr_ladders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bd_method: str = "akima"  # BD interpolation: akima, pchip, cubic
    reference_dir: str | None = None  # published full-Kodak curves (*.json), overlaid on full-Kodak studies only
    # Fit the same-size images of one ladder point in one batched network; None: on a GPU, and on a CPU where the
    # tiled step runs (rd_points.can_batch; measured by experiments/benchmark/rd_batched.py).
    batch_images: bool | None = None
    batch_memory_mb: int = 2048  # memory (MiB) one batched training step may use; more images are chunked

    def validate(self) -> "RDSettings":
        """Raise SirenInrError naming the first bad value."""
        if not Path(self.folder).is_dir():
            raise SirenInrError(f"data.folder={self.folder!r} is not a folder of images")
        if not self.ladder:
            raise SirenInrError("ladder is empty; give (hidden_layers, width) pairs, e.g. [[5,20],[10,28]]")
        for point in self.ladder:
            if len(point) != 2 or not all(is_int(v) and v >= 1 for v in point):
                raise SirenInrError(f"ladder point {point!r}; accepted: [hidden_layers, width], positive integers")
        for codec in self.codecs:
            check_codec(codec)
        if not self.inr_codecs or any(name not in inr_codec_names() for name in self.inr_codecs):
            raise SirenInrError(f"inr_codecs={self.inr_codecs!r}; accepted: a non-empty list of "
                                f"{', '.join(inr_codec_names())}")
        self._validate_inr_points()
        check_method(self.bd_method)
        check_int("crop", self.crop, 8, optional=True)
        check_positive_int("max_images", self.max_images, optional=True)
        check_flag("batch_images", self.batch_images, optional=True,
                   accepted="true, false or null (the default choice)")
        check_positive_int("batch_memory_mb", self.batch_memory_mb, accepted="a positive integer (MiB)")
        self.fit.validate()
        self.image_paths()  # names the missing images or the empty folder before anything is created
        return self

    def _validate_inr_points(self) -> None:
        """Every per-codec setting and ladder point names a codec of the study (not coin) and valid settings."""
        for key, table in (("inr_settings", self.inr_settings), ("inr_ladders", self.inr_ladders)):
            if not isinstance(table, dict):
                raise SirenInrError(f"{key}={table!r}; accepted: a mapping from INR codec name to its settings")
            for codec in table:
                if codec not in self.inr_codecs:
                    raise SirenInrError(f"{key}.{codec}: {codec!r} is not in inr_codecs={self.inr_codecs!r}")
        for codec in self.inr_ladders:
            if inr_codec(codec).fitted_by_command:
                raise SirenInrError(f"inr_ladders.{codec}: {codec}'s points are `ladder` ([hidden_layers, width] "
                                    "pairs); its other settings: num_epochs, optim, quant, or inr_settings")
        for codec, base in self.inr_settings.items():
            if not isinstance(base, dict):
                raise SirenInrError(f"inr_settings.{codec}={base!r}; accepted: a mapping of {codec} settings")
        for codec in self.inr_codecs:
            if inr_codec(codec).fitted_by_command:
                inr_study_points(codec, self.inr_settings.get(codec, {}), [{}])  # the codec's own checks
                with_fitted_codec_settings(self, codec)  # and what the study's fit accepts
            else:
                inr_study_points(codec, self.inr_settings.get(codec, {}), self.inr_ladders.get(codec))

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
        params["inr_codecs"] = ",".join(self.inr_codecs)
        for key in ("inr_settings", "inr_ladders"):
            params.pop(key)
            if getattr(self, key):
                params[key] = json.dumps(getattr(self, key), sort_keys=True)
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
    """Tracker that records nothing (tests, or track=false)."""

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
        from siren_inr.tracking.store import checked_experiment_name, precheck_store, resolve_tracking_uri

        self.uri = resolve_tracking_uri(uri)
        self.experiment_name = checked_experiment_name(experiment_name)
        self.tags = dict(tags or {})
        # Refuses a bad store now; creates it with the first run, after the study's images are checked.
        precheck_store(self.uri)
        self._store_ready = False

    @contextlib.contextmanager
    def run(self, name: str, params: dict[str, Any], parent: Any | None = None) -> Iterator[Any]:
        from siren_inr.tracking.provenance import provenance_tags
        from siren_inr.tracking.run import rd_run_tags, tracked_run
        from siren_inr.tracking.store import artifact_root_for, ensure_store

        if not self._store_ready:
            ensure_store(self.uri)
            self._store_ready = True
        tags = {**provenance_tags(), **self.tags, **rd_run_tags(is_point=parent is not None)}
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


def load_study_image(path: Path, folder: str) -> np.ndarray:
    """One image of the study; an error names it as a file of data.folder (the setting the user gave)."""
    try:
        return load_image(str(path), None)
    except SirenInrError as err:
        raise SirenInrError(str(err).replace(f"data.image={str(path)!r}", f"data.folder={folder!r}: {path.name}",
                                             1)) from None


def check_study_images(paths: list[Path], images: list[np.ndarray], crop: int | None) -> None:
    """Refuse, naming the files, images too small for the study: under one DCT block (the Benford statistics and
    the block codecs need 8x8 px) or, with data.crop=N, smaller than N x N (the study's images are N px crops)."""
    need = max(DCT_BLOCK, crop or 0)
    small = [f"{path} ({image.shape[1]}x{image.shape[0]} px)" for path, image in zip(paths, images)
             if min(image.shape[:2]) < need]
    if small:
        why = f"smaller than data.crop={crop}" if crop and crop > DCT_BLOCK else \
            f"smaller than {DCT_BLOCK}x{DCT_BLOCK} px, the least the study measures"
        raise SirenInrError(f"image(s) {why}: {', '.join(small)}; remove them from data.folder or choose them "
                            "with data.images=[...]")


def reference_note(settings: RDSettings, names: list[str], images: list[np.ndarray]) -> str | None:
    """None when reference curves compare with this study (published full-Kodak curves with full Kodak images, or
    curves measured on the same centre crops); else why they are not drawn."""
    if not settings.reference_dir:
        return "no published curves: reference_dir is not set"
    if settings.crop is not None and any(image.shape[:2] not in KODAK_SHAPES for image in images):
        if load_per_image_references(settings.reference_dir, settings.crop, names):
            return None  # a peer measured on these very crops (e.g. experiments/kodak_rd/coolchic_peer/)
        return (f"published Kodak curves not drawn: they are means over full 768x512 Kodak images, this study "
                f"uses centre crops of {settings.crop}x{settings.crop} px (and `{settings.reference_dir}` has no "
                f"curves declaring \"crop\": {settings.crop})")
    if not all(KODAK_NAME.match(name) for name in names) or any(i.shape[:2] not in KODAK_SHAPES for i in images):
        return "published Kodak curves not drawn: this study's images are not full Kodak images"
    return None


@dataclass
class RDResult:
    """Tables of one study and where its report lives."""

    table: pd.DataFrame  # one row per image x codec x point (INR ladder point, classical setting)
    means: pd.DataFrame  # mean curves: per codec and point, over all images
    bd: pd.DataFrame  # BD metrics per image and on the mean curves (image=mean)
    output_dir: Path
    parent_run_id: str | None = None


def _describe(settings: RDSettings, count: int, seconds: float) -> list[str]:
    crop = f"centre crops of {settings.crop}x{settings.crop} px" if settings.crop else "full images"
    fitted = [codec for codec in settings.inr_codecs if inr_codec(codec).fitted_by_command] or ["coin"]
    settings = with_fitted_codec_settings(settings, fitted[0])  # the fit, seed, quant, coder and QAT it ran with
    quant = settings.quant
    quant_text = quant.mode + (f", {quant.bits} bits (biases and coordinate-input matrices "
                               f"{quant.sensitive_bits or quant.bits}), "
                               f"{'per-channel' if quant.per_channel else 'per-tensor'} scales"
                               if quant.mode == "uniform" else "")
    fit = settings.fit
    return [
        f"images: {count} from `{settings.folder}` ({crop})",
        f"INR codecs: {', '.join(settings.inr_codecs)}; {fitted[0]}: {settings.model_name}, ladder "
        f"{', '.join(ladder_label(d, w) for d, w in settings.ladder)} (hidden layers x width), {fit.num_epochs} "
        f"full-batch steps at lr {fit.lr} ({fit.lr_schedule} schedule), seed {settings.seed}"
        + (", same-size images fitted together in one batched network" if can_batch(settings) else ""),
        f"weights: {quant_text}; entropy coder {settings.coder}; quantization-aware tuning {settings.qat.steps} steps "
        f"at lr {settings.qat.lr}",
        f"classical codecs, each swept over its settings from its smallest file past the largest INR file: "
        f"{', '.join(settings.codecs)}",
        "bpp = whole file size in bits / pixels; PSNR and SSIM of the decoded 8-bit image (data_range 1)",
        f"wall time: {seconds:.0f} s",
    ]


def _child_metrics(row: dict[str, Any], codecs: list[str]) -> dict[str, float]:
    metrics = {f"inr/{key}": row[key] for key in ("bpp", "psnr_db", "ssim", "num_bytes", "fit_psnr_db")}
    for codec in codecs:
        metrics.update({f"{codec}/{key}": row[f"{codec}_{key}_at_rate"] for key in ("bpp", "psnr_db", "ssim")})
    return metrics


def _summary(result: RDResult, inr_codecs: list[str]) -> dict[str, float]:
    summary = {}
    for _, row in result.means.iterrows():
        point = str(row["point"]).replace("=", ":")  # MLflow keys refuse '=' (latent points are lam=...)
        summary[f"mean/{row['codec']}/{point}/bpp"] = row["bpp"]
        summary[f"mean/{row['codec']}/{point}/psnr_db"] = row["psnr_db"]
    for _, row in result.bd[result.bd["image"] == "mean"].iterrows():
        name = row["anchor"] if len(inr_codecs) == 1 else f"{row['inr_codec']}/{row['anchor']}"
        summary[f"bd_rate_percent/{name}"] = row["bd_rate_percent"]
        summary[f"bd_psnr_db/{name}"] = row["bd_psnr_db"]
    return summary


def run_study(settings: RDSettings, tracker: StudyTracker | None = None) -> RDResult:
    """Run the whole study and write its report folder."""
    settings.validate()
    tracker = tracker or NoTracking()
    paths = settings.image_paths()
    names = [p.name for p in paths]
    images = [centre_crop(load_study_image(p, settings.folder), settings.crop) for p in paths]
    check_study_images(paths, images, settings.crop)  # before any run or folder exists
    out = Path(settings.output_dir)
    try:
        (out / "inr").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SirenInrError(f"output_dir={out}: the report folder cannot be created there "
                            f"({err.strerror or err})") from None
    start = time.perf_counter()
    with tracker.run("rd-study", settings.as_params()) as parent:
        inr_rows: list[dict[str, Any]] = []
        digits = digit_references(images)  # each original's leading digits, counted once for every codec's files
        for inr in settings.inr_codecs:
            inr_rows += INR_POINTS[inr](names, images, settings, out / "inr", digits)
        largest = [max(r["bpp"] for r in inr_rows if r["image"] == name) for name in names]
        classical_rows, swept = classical_points(names, images, settings.codecs, largest, digits)
        add_rate_matches(inr_rows, swept, settings.codecs)
        for row in inr_rows:
            params = {"image": row["image"], "codec": row["codec"], "point": row["point"],
                      "height": row["height"], "width": row["width"]}
            with tracker.run(f"{Path(row['image']).stem}-{row['point']}", params, parent=parent) as child:
                tracker.log_metrics(child, _child_metrics(row, settings.codecs))
        columns = ["image", "kind", "codec", "point", "setting", "num_bytes", "bpp", "psnr_db", "ssim"]
        table = pd.DataFrame(inr_rows + classical_rows)
        last = [c for c in BENFORD_JSD_COLUMNS if c in table.columns]  # appended after the older columns
        table = table[columns + [c for c in table.columns if c not in columns + last] + last]
        means = mean_curves(table)
        bd = bd_table(table, settings.inr_codecs, [*settings.codecs, *settings.inr_codecs], settings.bd_method, means)
        result = RDResult(table, means, bd, out, getattr(parent, "run_id", None))
        note = reference_note(settings, names, images)
        crop = settings.crop if any(image.shape[:2] not in KODAK_SHAPES for image in images) else None
        reference_bd = None if note is not None else compare_with_references(
            table, means, settings.reference_dir, settings.inr_codecs, settings.bd_method, crop)
        write_report(out, table, means, bd, description=_describe(settings, len(paths), time.perf_counter() - start),
                     inr_codecs=settings.inr_codecs, codecs=settings.codecs, bd_method=settings.bd_method,
                     reference_dir=settings.reference_dir, reference_note=note, reference_bd=reference_bd,
                     crop=crop)
        tracker.log_metrics(parent, _summary(result, settings.inr_codecs))
        tracker.log_artifacts(parent, out, "compression")
    return result
