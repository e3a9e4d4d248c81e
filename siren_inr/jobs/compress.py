"""The compress and decompress jobs: fit (or fetch) a network, QAT, encode, track; decode with its quality.

No job writes over one of its own inputs, an existing output is replaced only with overwrite=true, and every
file is written to a temporary name in its folder and renamed into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siren_inr.errors import SirenInrError
from siren_inr.names import (COMPRESSED_FOLDER, IMAGE_TAG, IMAGES_FOLDER, INR_BPP, INR_PSNR, MODE_TAG, NOTE_TAG,
                             SOURCE_RUN_TAG)
from siren_inr.seeding import seed_all
from siren_inr.tracking.store import nearest_existing
from siren_inr.validation import check_flag

if TYPE_CHECKING:
    import torch

    from siren_inr.jobs.train import TrainJob

DECODED_SUFFIXES = (".png",)  # decompress writes 8-bit PNG only


@dataclass
class CodecReport:
    """What compress/decompress print."""

    num_bytes: int
    bpp: float
    psnr_db: float | None
    ssim: float | None
    run_id: str | None = None  # the MLflow run that recorded it (compress with track=true)
    decoded_bytes: int | None = None  # decompress: the size of the PNG written (num_bytes is the .inr's)
    source: str | None = None  # decompress: the .inr file the numbers belong to
    warnings: list[str] = dc_field(default_factory=list)

    def line(self) -> str:
        """One human-readable summary line; each byte count names the file it belongs to."""
        text = f"{self.num_bytes} bytes, {self.bpp:.4f} bpp"
        if self.decoded_bytes is not None:
            text = f"{self.decoded_bytes} bytes (PNG), decoded from {Path(self.source).name}: " + text
        if self.psnr_db is not None:
            text += f", PSNR {self.psnr_db:.4f} dB, SSIM {self.ssim:.4f}"
        return text


@dataclass
class CompressJob:
    """Everything `compress` needs, as typed values (the CLI builds it from conf/compress.yaml)."""

    image: str
    out: str
    model_name: str
    model_hparams: dict
    fit: Any  # FitSettings of the fit (history rows every log_every_n_steps when tracked)
    quant: Any  # QuantSettings
    coder: str
    qat: Any  # QatSettings
    seed: int = 0
    sidelength: int | None = None
    max_pixels: int | None = None  # refuse larger images (data.image's limit); None = the loader's default
    run_id: str | None = None  # take this tracked fit's weights instead of fitting
    track: bool = True
    experiment_name: str = "siren-inr-compress"
    tracking_uri: str | None = None
    overwrite: bool = False
    config: dict = dc_field(default_factory=dict)  # the resolved config: the fit run's params
    inr_codec: str = "coin"  # coin (fitted by the command: the fields above), or siren_pe / latent (their own fit)
    # the codec's settings (conf/inr_codec/NAME.yaml with inr_codec.* overrides): for a codec the command fits,
    # written over the fields above (`with_codec_settings`); for the others, overrides of inr_codecs.settings_for
    inr_codec_settings: dict = dc_field(default_factory=dict)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def checked_output(out: str | Path, inputs: dict[str, str | Path | None], overwrite: bool,
                   suffixes: tuple[str, ...] | None = None) -> Path:
    """The output path, refused (one line) when it is one of `inputs`, a folder, an unwritable place, has a
    suffix outside `suffixes`, or exists without overwrite. Checked before any work, not when writing."""
    target = Path(out)
    if not str(out) or target.is_dir() or str(out).endswith(os.sep):
        example = f"out{suffixes[0]}" if suffixes else "photo.inr"
        raise SirenInrError(f"output {str(out)!r} is a folder; give a file name such as {example}")
    for name, source in inputs.items():
        if source and (_same_file(target, Path(source)) or target.absolute() == Path(source).absolute()):
            raise SirenInrError(f"output {str(out)!r} is the {name} itself; give another file name "
                                "(an input is never written over)")
    if suffixes and target.suffix.lower() not in suffixes:
        raise SirenInrError(f"output {str(out)!r}: unknown extension {target.suffix or '(none)'!r}; accepted: "
                            + ", ".join(suffixes))
    check_flag("overwrite", overwrite)
    if target.exists() and not overwrite:
        raise SirenInrError(f"output {str(out)!r} exists; pass overwrite=true to replace it")
    existing = nearest_existing(target.absolute().parent)  # missing folders are created; it must be writable
    if not existing.is_dir():
        raise SirenInrError(f"output {str(out)!r}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SirenInrError(f"output {str(out)!r}: folder {existing} is not writable")
    return target


def model_from_run(run_id: str, tracking_uri: str | None, field) -> "torch.nn.Module":
    """The trained network of a tracked fit, from its checkpoints/last.ckpt artifact."""
    from siren_inr.fit.trainer import load_module
    from siren_inr.names import LAST_CKPT_ARTIFACT
    from siren_inr.tracking import queries
    from siren_inr.tracking.store import check_store, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri, write=False)
    with tempfile.TemporaryDirectory(prefix="siren-inr-run-") as scratch:
        path = queries.download_artifact(uri, run_id, LAST_CKPT_ARTIFACT, scratch)
        if path is None or not Path(path).is_file():
            raise SirenInrError(f"run_id={run_id!r} has no {LAST_CKPT_ARTIFACT} artifact in {uri}")
        try:
            module = load_module(path, field)
        except (RuntimeError, KeyError, EOFError, OSError, ValueError) as err:
            raise SirenInrError(f"run_id={run_id!r}: its last.ckpt cannot be loaded ({type(err).__name__})") from None
    return module.net


def check_source_run(run_id: str, tracking_uri: str | None, image_path: str, image) -> list[str]:
    """Refuse run_id= naming no run, or a fit of another image than the one compressed (its network holds that
    image, not this one); a warning, returned, when the run's image cannot be read here to compare."""
    import numpy as np

    from siren_inr.data import load_image
    from siren_inr.tracking import queries
    from siren_inr.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    run = queries.get_run(uri, run_id)
    if run is None:
        raise SirenInrError(f"run_id={run_id!r}: no such run in {uri}")
    source = run.params.get("data.image") or run.tags.get(IMAGE_TAG)
    if not source:
        return [f"run {run_id} records no image; its network is encoded as the image of {image_path}"]
    recorded_side = run.params.get("data.sidelength") or run.params.get("sidelength")  # a train or compress fit
    side = int(recorded_side) if recorded_side and recorded_side.isdigit() else None
    try:
        fitted = load_image(source, side)
    except SirenInrError:
        return [f"run {run_id} was fitted to {source!r}, which cannot be read here to compare with {image_path}; "
                f"its network is encoded as {image_path}"]
    if fitted.shape != image.shape or not np.array_equal(fitted, image):
        height, width = image.shape[:2]
        raise SirenInrError(f"run_id={run_id!r} was fitted to {source!r} ({fitted.shape[1]}x{fitted.shape[0]}"
                            f"{f', data.sidelength={side}' if side else ''}), not to {image_path} ({width}x{height} as "
                            "given): its network holds that image; compress this one without run_id= to fit it")
    return []


def _fit_job(job: CompressJob, output_dir: Path) -> "TrainJob":
    """The tracked fit of `compress` as a TrainJob: the same run `siren-inr train` would record, mode=compress."""
    from siren_inr.jobs.train import DataSpec, TrainJob

    return TrainJob(
        model_name=job.model_name, model_hparams=dict(job.model_hparams),
        data=DataSpec(image=str(job.image), sidelength=job.sidelength, batch_size=None),
        fit=job.fit, seed=job.seed, experiment_name=job.experiment_name, tracking_uri=job.tracking_uri,
        run_name=f"compress {Path(job.image).name}", output_dir=output_dir, config=dict(job.config),
        tags={MODE_TAG: "compress"}, keeps_output_dir=False,  # a temporary folder: no tag may point at it
    )


def _record_encoding(uri: str, experiment_name: str, run_id: str | None, metrics: dict[str, Any],
                     files: dict[str, Path], tags: dict[str, Any], run_name: str | None = None,
                     params: dict[str, Any] | None = None) -> str:
    """Log the encoding into the fit's run (run_id) or, for run_id= weights, into a new run; its id."""
    from siren_inr.tracking.provenance import provenance_tags
    from siren_inr.tracking.run import finite_metrics, tracked_run
    from siren_inr.tracking.store import artifact_root_for, ensure_store

    ensure_store(uri)
    with tracked_run(uri, experiment_name, run_id=run_id, artifact_location=artifact_root_for(uri),
                     run_name=run_name, params=params, tags={**provenance_tags(), **tags}) as run:
        run.log_metrics(finite_metrics(metrics), step=0)
        for folder, path in files.items():
            run.log_artifact(path, folder)
        return run.run_id


class _FitRun:
    """The fit's run of a tracked compress: ended FINISHED by the fit, it is marked FAILED (KILLED on an interrupt)
    when anything after the fit stops the job before the file is recorded in it (QAT, encoding, writing)."""

    def __init__(self, uri: str | None):
        self.uri, self.run_id, self.recorded = uri, None, False

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if error is None or self.run_id is None or self.recorded:
            return False
        from siren_inr.tracking.run import end_finished_run

        interrupted = isinstance(error, KeyboardInterrupt)
        reason = "the job was stopped" if interrupted else f"{type(error).__name__}: {' '.join(str(error).split())}"
        try:
            end_finished_run(self.uri, self.run_id, "KILLED" if interrupted else "FAILED",
                             f"compress stopped after the fit, before its .inr file was written ({reason[:300]})")
        except Exception:  # noqa: BLE001 - the job's own error is the one to report
            pass
        return False


def larger_than_source(image: str, num_bytes: int, target: Path) -> list[str]:
    """A warning when the .inr is larger than the image file it encodes (a network costs more than a tiny PNG)."""
    source = Path(str(image))
    if source.is_file() and num_bytes > source.stat().st_size:
        size = source.stat().st_size
        return [f"{target.name} ({num_bytes} bytes) is {num_bytes / max(size, 1):.1f}x larger than {source.name} "
                f"({size} bytes); a smaller network (model.hidden_features, model.hidden_layers) or quant.bits "
                "makes a smaller file"]
    return []


def compress_note(image: str, target: Path, report: CodecReport, height: int, width: int,
                  codec: str = "coin") -> str:
    """A compress run's one-line description: the file, its size and its quality."""
    text = f"{codec}: {Path(str(image)).name} {width}x{height} -> {target.name}, {report.line()}"
    return text


def _command_config(target) -> dict[str, Any]:
    """The fit and codec settings of `target` (a CompressJob or an RDSettings: model_name, model_hparams, fit, quant,
    coder, qat, seed) as conf/compress.yaml shapes them: what a codec the command fits writes its settings over."""
    from dataclasses import asdict

    fit, qat = target.fit, target.qat
    return {"model": {"name": target.model_name, **target.model_hparams}, "num_epochs": fit.num_epochs,
            "optim": {"lr": fit.lr, "lr_schedule": fit.lr_schedule, "lr_min": fit.lr_min},
            "quant": asdict(target.quant), "coder": target.coder, "qat_steps": qat.steps, "qat_lr": qat.lr,
            "qat_eval_every": qat.eval_every, "seed": target.seed}


def codec_settings_onto(target, entry, given: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """`target` (a CompressJob or an RDSettings) with the settings `given` of `entry`, a codec the command fits
    (registry `onto_command`), written over its fit, model, quantization, coder, QAT and seed; and the command's
    config mapping after the change. `target` itself when nothing changes."""
    from dataclasses import replace

    from siren_inr.compression.qat import QatSettings
    from siren_inr.compression.quantize import QuantSettings

    command = _command_config(target)
    config = entry.onto_command(given, command)
    if config == command:
        return target, config
    model = dict(config["model"])
    name = model.pop("name")
    optim, fit = config["optim"], target.fit
    # An untracked fit records its history once, at the end: that stays so when the codec changes the steps.
    every = config["num_epochs"] if fit.log_every_n_steps == fit.num_epochs else fit.log_every_n_steps
    fit = replace(fit, num_epochs=config["num_epochs"], lr=optim["lr"], lr_schedule=optim["lr_schedule"],
                  lr_min=optim["lr_min"], log_every_n_steps=every).validate()
    qat = QatSettings(steps=config["qat_steps"], lr=config["qat_lr"], eval_every=config["qat_eval_every"])
    return replace(target, model_name=name, model_hparams=model, fit=fit, quant=QuantSettings(**config["quant"]),
                   coder=config["coder"], qat=qat, seed=config["seed"]), config


def with_codec_settings(job: CompressJob) -> CompressJob:
    """The job with its codec's `inr_codec.*` settings written over the command's own (a codec the command fits,
    such as coin: conf/inr_codec/coin.yaml states the command's settings unless one is given), so that every
    setting of the codec's yaml reaches the fit, the file and the recorded config."""
    from dataclasses import replace

    from siren_inr.compression.inr_codecs import merged, settings_for
    from siren_inr.compression.registry import inr_codec

    settings_for(job.inr_codec, job.inr_codec_settings)  # a bad value is one line before any fit
    changed, config = codec_settings_onto(job, inr_codec(job.inr_codec), dict(job.inr_codec_settings))
    if changed is job:
        return job
    recorded = merged(job.config, {key: value for key, value in config.items() if key in job.config})
    return replace(changed, config=recorded)


def _load_kwargs(job: CompressJob) -> dict:
    return {} if job.max_pixels is None else {"max_pixels": job.max_pixels}


def run_compress_job(job: CompressJob) -> CodecReport:
    """Fit (or fetch) a network for the image, encode it to job.out and report the decoded quality.

    With track=true the fit is one MLflow run (as `siren-inr train` records it, tagged mode=compress) that
    also gets the file's inr/* numbers and the .inr file; with run_id= a new run records the encoding.
    """
    from siren_inr.compression.codec import encode_inr, write_inr
    from siren_inr.compression.qat import quantization_aware_finetune
    from siren_inr.data import PixelField, load_image
    from siren_inr.data.image import atomic_output, save_png
    from siren_inr.fit.trainer import fit_model
    from siren_inr.jobs.train import run_train_job
    from siren_inr.models import hparams_for_image
    from siren_inr.tracking.store import check_store, checked_experiment_name, resolve_tracking_uri

    target = checked_output(job.out, {"input image": job.image}, job.overwrite)
    uri = None
    if job.track:
        checked_experiment_name(job.experiment_name)
        uri = resolve_tracking_uri(job.tracking_uri)
    image = load_image(job.image, job.sidelength, **_load_kwargs(job))
    # A tracked fit opens its store (one line on a fault) after checking the model and before fitting.
    if job.run_id:
        check_store(resolve_tracking_uri(job.tracking_uri), write=False)
    from siren_inr.compression.registry import inr_codec

    if not inr_codec(job.inr_codec).fitted_by_command:
        return _compress_with_inr_codec(job, image, target, uri)
    job = with_codec_settings(job)
    source_warnings = check_source_run(str(job.run_id), job.tracking_uri, str(job.image), image) if job.run_id else []
    height, width, channels = image.shape
    field = PixelField.from_image(image)
    fit_run = _FitRun(uri)
    with tempfile.TemporaryDirectory(prefix="siren-inr-compress-") as scratch, fit_run:
        if job.run_id:
            model = model_from_run(str(job.run_id), job.tracking_uri, field)
        elif job.track:
            result = run_train_job(_fit_job(job, Path(scratch) / "fit"))
            fit_run.run_id, model = result.run_id, result.fit.model
        else:
            hparams = hparams_for_image(job.model_name, dict(job.model_hparams), height, width, channels)
            seed_all(job.seed)
            model = fit_model(job.model_name, hparams, field, job.fit).model
        before = after = float("nan")
        if job.qat.steps and job.quant.mode != "fp32":
            tuned = quantization_aware_finetune(model, field, job.quant, job.qat)
            model, before, after = tuned.model, tuned.psnr_before_db, tuned.psnr_after_db
        encoded = encode_inr(model.cpu(), height, width, channels, job.quant, job.coder, reference=image)
        # Checked again: another process may have made the file during the fit.
        checked_output(job.out, {"input image": job.image}, job.overwrite)
        with atomic_output(target) as temporary:
            write_inr(temporary, encoded.data)
        report = CodecReport(encoded.num_bytes, encoded.bpp, encoded.psnr_db, encoded.ssim,
                             warnings=source_warnings + larger_than_source(job.image, encoded.num_bytes, target))
        if job.track:
            metrics = {"inr/num_bytes": encoded.num_bytes, INR_BPP: encoded.bpp, INR_PSNR: encoded.psnr_db,
                       "inr/ssim": encoded.ssim, "inr/quant_psnr_db_before_qat": before,
                       "inr/quant_psnr_db_after_qat": after}
            decoded_png = save_png(Path(scratch) / "decoded.png", encoded.decoded.image)
            files = {COMPRESSED_FOLDER: target, IMAGES_FOLDER: decoded_png}
            tags = {MODE_TAG: "compress", "entropy_method": encoded.decoded.method, "inr_file": str(target.resolve()),
                    NOTE_TAG: compress_note(job.image, target, report, height, width)}
            if fit_run.run_id is not None:  # the fit's run already holds every setting as a param
                report.run_id = _record_encoding(uri, job.experiment_name, fit_run.run_id, metrics, files, tags)
                fit_run.recorded = True
            else:  # run_id= weights: a new run of the encoding alone
                quant = job.quant
                params = {IMAGE_TAG: str(job.image), SOURCE_RUN_TAG: job.run_id, "quant.mode": quant.mode,
                          "quant.bits": quant.bits, "quant.per_channel": quant.per_channel,
                          "quant.sensitive_bits": quant.sensitive_bits, "coder": job.coder,
                          "qat_steps": job.qat.steps, "qat_lr": job.qat.lr, "model.name": encoded.decoded.arch,
                          **{f"model.{k}": v for k, v in encoded.decoded.hparams.items()}}
                report.run_id = _record_encoding(
                    uri, job.experiment_name, None, metrics, files,
                    {**tags, SOURCE_RUN_TAG: job.run_id, IMAGE_TAG: str(job.image)},
                    run_name=f"compress {Path(job.image).name} (run {job.run_id})", params=params)
    return report


def _compress_with_inr_codec(job: CompressJob, image, target: Path, uri: str | None) -> CodecReport:
    """A codec that trains its own networks (plain torch: siren_pe, latent); the file is written, then tracked."""
    from dataclasses import asdict

    from siren_inr.compression import inr_codecs
    from siren_inr.compression.codec import write_inr
    from siren_inr.data.image import atomic_output, save_png
    from siren_inr.tracking.run import flatten

    if job.run_id:
        from siren_inr.compression.registry import inr_codecs

        takes = ", ".join(entry.name for entry in inr_codecs() if entry.fitted_by_command)
        raise SirenInrError(f"run_id= takes a tracked fit's weights ({takes}); "
                            f"inr_codec={job.inr_codec} trains its own")
    settings = inr_codecs.settings_for(job.inr_codec, job.inr_codec_settings)
    data, reconstruction, info = inr_codecs.encode(job.inr_codec, image, settings)
    checked_output(job.out, {"input image": job.image}, job.overwrite)
    with atomic_output(target) as temporary:
        write_inr(temporary, data)
    report = CodecReport(info["num_bytes"], info["bpp"], info["psnr_db"], info["ssim"],
                         warnings=larger_than_source(job.image, info["num_bytes"], target))
    if job.track:
        metrics = {f"inr/{key}": info[key] for key in ("num_bytes", "bpp", "psnr_db", "ssim",
                                                       "multiplications_per_pixel")}
        params = {IMAGE_TAG: str(job.image), "inr_codec": job.inr_codec,
                  **flatten(asdict(settings), "inr_codec.")}
        with tempfile.TemporaryDirectory(prefix="siren-inr-compress-") as scratch:
            decoded_png = save_png(Path(scratch) / "decoded.png", reconstruction)
            report.run_id = _record_encoding(
                uri, job.experiment_name, None, metrics, {COMPRESSED_FOLDER: target, IMAGES_FOLDER: decoded_png},
                {MODE_TAG: "compress", "inr_codec": job.inr_codec, "inr_file": str(target.resolve()),
                 NOTE_TAG: compress_note(job.image, target, report, *image.shape[:2], job.inr_codec)},
                run_name=f"compress {Path(job.image).name} ({job.inr_codec})", params=params)
    return report


def run_decompress_job(in_path: str, out_path: str, original: str | None = None, overwrite: bool = False,
                       max_pixels: int | None = None, sidelength: int | None = None) -> CodecReport:
    """Decode in_path to an 8-bit PNG at out_path; quality against `original` when given (of the file's size, or
    resized with `sidelength`, the setting the file was compressed with)."""
    from siren_inr.compression.codec import image_quality, read_inr
    from siren_inr.compression.container import decode_pixel_limit
    from siren_inr.data import load_image
    from siren_inr.data.image import DEFAULT_MAX_PIXELS, checked_max_pixels, save_png

    kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
    checked_output(out_path, {"input .inr file": in_path, "original image": original}, overwrite,
                   DECODED_SUFFIXES)
    with decode_pixel_limit(checked_max_pixels(DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)):
        decoded = read_inr(in_path)
    psnr = ssim_value = None
    if original:  # checked before OUT.png is written: a bad original= leaves nothing behind
        reference = load_image(original, None, **kwargs)
        size = f"{decoded.width}x{decoded.height}"
        if reference.shape[:2] != (decoded.height, decoded.width):
            other = (f"original={original!r} is {reference.shape[1]}x{reference.shape[0]} px, the file holds "
                     f"{size}")
            if decoded.height != decoded.width:
                raise SirenInrError(f"{other}; accepted: the image that was compressed")
            if sidelength != decoded.height:
                raise SirenInrError(f"{other}; accepted: the image that was compressed, or with sidelength="
                                    f"{decoded.height} if it was compressed with that setting")
            reference = load_image(original, sidelength, **kwargs)  # compressed with sidelength=side
        psnr, ssim_value = image_quality(decoded.image, reference)
    written = save_png(out_path, decoded.image)
    return CodecReport(decoded.num_bytes, decoded.bpp, psnr, ssim_value, decoded_bytes=written.stat().st_size,
                       source=str(in_path))
