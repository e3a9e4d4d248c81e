"""`siren-inr compress IMAGE OUT.inr [key=value ...]` and `siren-inr decompress IN.inr OUT.png [original=IMAGE]`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from siren_inr.cli.command import run_command
from siren_inr.cli.hydra_support import print_error
from siren_inr.validation import check_flag
from siren_inr.cli.settings_help import settings_help

if TYPE_CHECKING:
    from siren_inr.jobs.compress import CodecReport, CompressJob

CONFIG_NAME = "compress"

_COMPRESS_HELP = """usage: siren-inr compress IMAGE OUT.inr [key=value ...]

Fits a network to IMAGE (or takes a tracked run's weights with run_id=...), quantizes and entropy-codes
its weights and writes OUT.inr; prints bytes, bpp (whole file), PSNR and SSIM of the decoded image.
The fit and the file are recorded in MLflow (track=false: not recorded).
Common settings (every setting, with its default, is listed below):
  inr_codec=coin|siren_pe|latent (coin: the settings below; the others: inr_codec.* of conf/inr_codec/)
  model=siren model.hidden_layers=9 model.hidden_features=28   num_epochs=2000 optim.lr=2e-4 seed=0
  quant.mode=uniform|fp16|fp32 quant.bits=8 quant.sensitive_bits=12 quant.per_channel=false   \
coder=auto|range|zlib|lzma|raw
  qat_steps=300 qat_lr=1e-5   sidelength=null|N   trainer=cpu|gpu   run_id=<mlflow run>
  track=true experiment_name=siren-inr-compress tracking.uri=...
  overwrite=false (an existing OUT.inr is replaced only with overwrite=true; IMAGE is never written over)
  max_pixels=100000000 (larger images are refused)   debug=true (tracebacks)"""

_DECOMPRESS_HELP = """usage: siren-inr decompress IN.inr OUT.png [original=IMAGE [sidelength=N]] [overwrite=false] \
[debug=true]

Rebuilds the image from IN.inr alone and writes it as an 8-bit PNG (OUT must end in .png; an existing OUT is
replaced only with overwrite=true, and neither IN.inr nor the original is ever written over); prints bytes
and bpp, and PSNR/SSIM when original= names the source image (of the size that was compressed; with
sidelength=N, the setting the file was compressed with, it is resized as compress resized it). Files claiming
more than max_pixels=100000000 pixels (compress's limit) are refused before they are decoded."""


# Keys of conf/compress.yaml that shape no result: decompress's original=, and how the command behaves.
_NOT_RECORDED = ("original", "overwrite", "debug")


def recorded_config(resolved: dict, inr_name: str) -> dict:
    """The config a compress fit records (its config.yaml and params): the settings that ran, once each. The coin
    codec's settings are the top-level ones (num_epochs, quant, qat_steps, ...), so its inr_codec is a name alone,
    not a second copy of them with other values."""
    config = {key: value for key, value in resolved.items() if key not in _NOT_RECORDED}
    config["inr_codec"] = inr_name
    return config


def compress_job_from(image_path: str, out_path: str, cfg) -> "CompressJob":
    """The typed CompressJob of a composed conf/compress.yaml."""
    from omegaconf import OmegaConf

    from siren_inr.cli.config import codec_settings_from, fit_settings_from, inr_codec_choice
    from siren_inr.compression.inr_codecs import settings_for
    from siren_inr.jobs.compress import CompressJob
    from siren_inr.seeding import checked_seed

    resolved = OmegaConf.to_container(cfg, resolve=True)
    quant, coder, qat = codec_settings_from(cfg)
    track = check_flag("track", resolved.get("track", False))
    inr_name, inr_codec = inr_codec_choice(resolved)
    settings_for(inr_name, inr_codec)  # a bad codec name or setting is one line before any fit
    model = dict(resolved["model"])
    name = model.pop("name")
    return CompressJob(
        image=image_path, out=out_path, model_name=name, model_hparams=model,
        fit=fit_settings_from(cfg, resolved["log_every_n_steps"] if track and not resolved["run_id"] else None),
        quant=quant, coder=coder, qat=qat, seed=checked_seed(resolved["seed"]), sidelength=resolved["sidelength"],
        max_pixels=resolved.get("max_pixels"), run_id=str(resolved["run_id"]) if resolved["run_id"] else None,
        track=track, experiment_name=resolved["experiment_name"], tracking_uri=resolved["tracking"]["uri"],
        overwrite=check_flag("overwrite", resolved.get("overwrite", False)),
        config=recorded_config(resolved, inr_name),
        inr_codec=inr_name, inr_codec_settings=inr_codec)


def compress(image_path: str, out_path: str, cfg) -> "CodecReport":
    """Run the compress job for a composed config."""
    from siren_inr.jobs.compress import run_compress_job

    return run_compress_job(compress_job_from(image_path, out_path, cfg))


def decompress(in_path: str, out_path: str, cfg) -> "CodecReport":
    """Run the decompress job for a composed config."""
    from siren_inr.jobs.compress import run_decompress_job

    return run_decompress_job(in_path, out_path, cfg.get("original"),
                              overwrite=check_flag("overwrite", cfg.get("overwrite", False)),
                              max_pixels=cfg.get("max_pixels"), sidelength=cfg.get("sidelength"))


def _printed(action):
    """The job of a codec command: run `action`, then print its report."""
    def job(cfg, source: str, target: str) -> int:
        report = action(source, target, cfg)
        print(f"{target}: {report.line()}", flush=True)
        for warning in report.warnings:
            print_error(warning, prefix="warning")
        if report.run_id:
            print(f"MLflow run {report.run_id}", flush=True)
        return 0

    return job


def compress_main(argv: list[str], prog: str = "siren-inr compress") -> int:
    """Entry point of `siren-inr compress`."""
    return run_command(argv, prog, lambda _: f"{_COMPRESS_HELP}\n\n{settings_help(CONFIG_NAME, argv)}",
                       _printed(compress), config=CONFIG_NAME, positional=("IMAGE", "OUT.inr"))


def decompress_main(argv: list[str], prog: str = "siren-inr decompress") -> int:
    """Entry point of `siren-inr decompress`."""
    return run_command(argv, prog, _DECOMPRESS_HELP, _printed(decompress), config=CONFIG_NAME,
                       positional=("IN.inr", "OUT.png"))


if __name__ == "__main__":
    sys.exit(compress_main(sys.argv[1:]))
