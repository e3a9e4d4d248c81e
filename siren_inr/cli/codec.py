"""`siren-inr compress IMAGE OUT.inr [key=value ...]` and `siren-inr decompress IN.inr OUT.png [original=IMAGE]`."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siren_inr.cli.hydra_support import checked_flag, checked_seed, print_error
from siren_inr.cli.config import codec_settings_from, compose, fit_settings_from
from siren_inr.errors import SirenInrError

CONFIG_NAME = "compress"

_COMPRESS_HELP = """usage: siren-inr compress IMAGE OUT.inr [key=value ...]

Fits a network to IMAGE (or takes a tracked run's weights with run_id=...), quantizes and entropy-codes
its weights and writes OUT.inr; prints bytes, bpp (whole file), PSNR and SSIM of the decoded image.
The fit and the file are recorded in MLflow (track=false: not recorded).
Common settings (conf/compress.yaml has them all):
  model=siren model.hidden_layers=9 model.hidden_features=28   num_epochs=2000 optim.lr=2e-4 seed=0
  quant.mode=uniform|fp16|fp32 quant.bits=8 quant.sensitive_bits=12 quant.per_channel=false   coder=auto|range|zlib|lzma|raw
  qat_steps=300 qat_lr=1e-5   sidelength=null|N   trainer=cpu|gpu   run_id=<mlflow run>
  track=true experiment_name=siren-inr-compress tracking.uri=...
  debug=true (tracebacks)"""

_DECOMPRESS_HELP = """usage: siren-inr decompress IN.inr OUT.png [original=IMAGE] [debug=true]

Rebuilds the image from IN.inr alone and writes it as an 8-bit PNG; prints bytes and bpp, and PSNR/SSIM
when original= names the source image (at the size that was compressed)."""


@dataclass
class CodecReport:
    """What compress/decompress print."""

    num_bytes: int
    bpp: float
    psnr_db: float | None
    ssim: float | None
    run_id: str | None = None  # the MLflow run that recorded it (compress with track=true)

    def line(self) -> str:
        """One human-readable summary line."""
        text = f"{self.num_bytes} bytes, {self.bpp:.4f} bpp"
        if self.psnr_db is not None:
            text += f", PSNR {self.psnr_db:.4f} dB, SSIM {self.ssim:.4f}"
        return text


def _split_args(argv: list[str], names: tuple[str, str]) -> tuple[list[str], list[str]]:
    positional = [a for a in argv if "=" not in a and not a.startswith("-")]
    overrides = [a for a in argv if "=" in a]
    unknown = [a for a in argv if a.startswith("-") and "=" not in a]
    if unknown:
        raise SirenInrError(f"unknown option(s) {' '.join(unknown)}; settings are key=value")
    if len(positional) != 2:
        raise SirenInrError(f"expected {names[0]} and {names[1]}, got {len(positional)} path(s): {positional}")
    return positional, overrides


def model_from_run(run_id: str, tracking_uri: str | None, field) -> "torch.nn.Module":
    """The trained network of a tracked fit, from its checkpoints/last.ckpt artifact."""
    from siren_inr.fit.trainer import load_module
    from siren_inr.tracking.store import resolve_tracking_uri

    try:
        from siren_inr.tracking import queries  # the one place that talks to MLflow
    except ImportError:
        raise SirenInrError("run_id= needs siren_inr.tracking.queries.download_artifact, which this "
                            "installation lacks; fit instead (leave run_id unset)") from None

    uri = resolve_tracking_uri(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="siren-inr-run-") as scratch:
        path = queries.download_artifact(uri, run_id, "checkpoints/last.ckpt", scratch)
        if path is None or not Path(path).is_file():
            raise SirenInrError(f"run_id={run_id!r} has no checkpoints/last.ckpt artifact in {uri}")
        try:
            module = load_module(path, field)
        except (RuntimeError, KeyError, EOFError, OSError, ValueError) as err:
            raise SirenInrError(f"run_id={run_id!r}: its last.ckpt cannot be loaded ({type(err).__name__})") from None
    return module.net


def _checked_output(out_path: str) -> Path:
    # Checked before a fit that may take hours, not when the file is written.
    target = Path(out_path)
    if target.is_dir():
        raise SirenInrError(f"output {out_path!r} is a folder; give a file name such as photo.inr")
    existing = target.absolute().parent  # missing folders are created; the nearest existing one must be writable
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise SirenInrError(f"output {out_path!r}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SirenInrError(f"output {out_path!r}: folder {existing} is not writable")
    return target


def _fit_job(image_path: str, cfg, experiment_name: str, output_dir: Path) -> "TrainJob":
    """The tracked fit of `compress` as a TrainJob: the same run `siren-inr train` would record, mode=compress."""
    from omegaconf import OmegaConf

    from siren_inr.jobs.train import DataSpec, TrainJob

    resolved = OmegaConf.to_container(cfg, resolve=True)
    model = dict(resolved["model"])
    name = model.pop("name")
    return TrainJob(
        model_name=name, model_hparams=model,
        data=DataSpec(image=str(image_path), sidelength=resolved["sidelength"], batch_size=None),
        fit=fit_settings_from(cfg, resolved["log_every_n_steps"]), seed=checked_seed(resolved["seed"]),
        experiment_name=experiment_name, tracking_uri=resolved["tracking"]["uri"],
        run_name=f"compress {Path(image_path).name}", output_dir=output_dir, config=resolved,
        tags={"mode": "compress"},
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


def compress(image_path: str, out_path: str, cfg) -> CodecReport:
    """Fit (or fetch) a network for the image, encode it to out_path and report the decoded quality.

    With track=true the fit is one MLflow run (as `siren-inr train` records it, tagged mode=compress) that
    also gets the file's inr/* numbers and the .inr file; with run_id= a new run records the encoding.
    """
    import torch
    from omegaconf import OmegaConf

    from siren_inr.compression.codec import encode_inr, write_inr
    from siren_inr.compression.qat import quantization_aware_finetune
    from siren_inr.data import PixelField, load_image
    from siren_inr.fit.report import save_png
    from siren_inr.fit.trainer import fit_model
    from siren_inr.jobs.train import run_train_job
    from siren_inr.models import hparams_for_image
    from siren_inr.tracking.store import checked_experiment_name, resolve_tracking_uri

    resolved = OmegaConf.to_container(cfg, resolve=True)
    quant, coder, qat = codec_settings_from(cfg)
    target = _checked_output(out_path)
    track = checked_flag("track", resolved.get("track", False))
    if track:
        experiment_name = checked_experiment_name(resolved["experiment_name"])
        uri = resolve_tracking_uri(resolved["tracking"]["uri"])
    image = load_image(image_path, resolved["sidelength"])
    height, width, channels = image.shape
    field = PixelField.from_image(image)
    fit_run_id = None
    with tempfile.TemporaryDirectory(prefix="siren-inr-compress-") as scratch:
        if resolved["run_id"]:
            model = model_from_run(str(resolved["run_id"]), resolved["tracking"]["uri"], field)
        elif track:
            job = _fit_job(image_path, cfg, experiment_name, Path(scratch) / "fit")
            result = run_train_job(job)
            fit_run_id, model = result.run_id, result.fit.model
        else:
            hparams = dict(resolved["model"])
            name = hparams.pop("name")
            hparams = hparams_for_image(name, hparams, height, width, channels)
            torch.manual_seed(checked_seed(resolved["seed"]))
            model = fit_model(name, hparams, field, fit_settings_from(cfg)).model
        before = after = float("nan")
        if qat.steps and quant.mode != "fp32":
            tuned = quantization_aware_finetune(model, field, quant, qat)
            model, before, after = tuned.model, tuned.psnr_before_db, tuned.psnr_after_db
        encoded = encode_inr(model.cpu(), height, width, channels, quant, coder, reference=image)
        write_inr(target, encoded.data)
        report = CodecReport(encoded.num_bytes, encoded.bpp, encoded.psnr_db, encoded.ssim)
        if track:
            metrics = {"inr/num_bytes": encoded.num_bytes, "inr/bpp": encoded.bpp, "inr/psnr_db": encoded.psnr_db,
                       "inr/ssim": encoded.ssim, "inr/quant_psnr_db_before_qat": before,
                       "inr/quant_psnr_db_after_qat": after}
            decoded_png = Path(scratch) / "decoded.png"
            save_png(decoded_png, encoded.decoded.image)
            files = {"compressed": target, "images": decoded_png}
            tags = {"mode": "compress", "entropy_method": encoded.decoded.method, "inr_file": str(target.resolve())}
            if fit_run_id is not None:  # the fit's run already holds every setting as a param
                report.run_id = _record_encoding(uri, experiment_name, fit_run_id, metrics, files, tags)
            else:  # run_id= weights: a new run of the encoding alone
                params = {"image": str(image_path), "source_run_id": resolved["run_id"], "quant.mode": quant.mode,
                          "quant.bits": quant.bits, "quant.per_channel": quant.per_channel,
                          "quant.sensitive_bits": quant.sensitive_bits, "coder": coder, "qat_steps": qat.steps,
                          "qat_lr": qat.lr, "model.name": encoded.decoded.arch,
                          **{f"model.{k}": v for k, v in encoded.decoded.hparams.items()}}
                report.run_id = _record_encoding(
                    uri, experiment_name, None, metrics, files,
                    {**tags, "source_run_id": resolved["run_id"], "image": str(image_path)},
                    run_name=f"compress {Path(image_path).name} (run {resolved['run_id']})", params=params)
    return report


def decompress(in_path: str, out_path: str, original: str | None) -> CodecReport:
    """Decode in_path to an 8-bit PNG at out_path; quality against `original` when given."""
    from siren_inr.compression.codec import image_quality, read_inr
    from siren_inr.data import load_image
    from siren_inr.fit.report import save_png

    decoded = read_inr(in_path)
    psnr = ssim_value = None
    if original:  # checked before OUT.png is written: a bad original= leaves nothing behind
        reference = load_image(original, None)
        if reference.shape[:2] != (decoded.height, decoded.width):
            side = decoded.height if decoded.height == decoded.width else None
            if side is None:
                raise SirenInrError(f"original={original!r} is {reference.shape[1]}x{reference.shape[0]}, "
                                    f"the file holds {decoded.width}x{decoded.height}")
            reference = load_image(original, side)  # compressed with sidelength=side
        psnr, ssim_value = image_quality(decoded.image, reference)
    save_png(out_path, decoded.image)
    return CodecReport(decoded.num_bytes, decoded.bpp, psnr, ssim_value)


def _run(argv: list[str], help_text: str, names: tuple[str, str], action) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(help_text)
        return 0
    debug = any(a in ("debug=true", "debug=True") for a in argv)
    try:
        (source, target), overrides = _split_args(argv, names)
        cfg = compose(overrides, CONFIG_NAME)
        debug = checked_flag("debug", cfg.get("debug", False))
        report = action(source, target, cfg)
    except SirenInrError as err:
        if debug:
            import traceback

            traceback.print_exception(err)
        print_error(str(err))
        return 2
    print(f"{target}: {report.line()}", flush=True)
    if report.run_id:
        print(f"MLflow run {report.run_id}", flush=True)
    return 0


def compress_main(argv: list[str], prog: str = "siren-inr compress") -> int:
    """Entry point of `siren-inr compress`."""
    return _run(argv, _COMPRESS_HELP, ("IMAGE", "OUT.inr"), compress)


def decompress_main(argv: list[str], prog: str = "siren-inr decompress") -> int:
    """Entry point of `siren-inr decompress`."""
    return _run(argv, _DECOMPRESS_HELP, ("IN.inr", "OUT.png"),
                lambda source, target, cfg: decompress(source, target, cfg.get("original")))


if __name__ == "__main__":
    sys.exit(compress_main(sys.argv[1:]))
