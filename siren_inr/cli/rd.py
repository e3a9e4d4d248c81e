"""`siren-inr rd data.folder=FOLDER [key=value ...]`: rate–distortion study of the INR codec (jobs/rd.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from siren_inr.cli.command import run_command
from siren_inr.cli.config import codec_settings_from, fit_settings_from, inr_codec_choice
from siren_inr.seeding import checked_seed
from siren_inr.validation import check_flag
from siren_inr.cli.settings_help import settings_help
from siren_inr.errors import SirenInrError

if TYPE_CHECKING:
    from siren_inr.jobs.rd import RDSettings

CONFIG_NAME = "rd"

_HELP = """usage: siren-inr rd data.folder=FOLDER [key=value ...]

Fits the INR codec at a ladder of network sizes on every image of FOLDER, sweeps JPEG, JPEG 2000, WebP,
AVIF, JPEG XL and HEIC over their settings across the same rates, and writes a report folder (curves,
BD-PSNR/BD-rate, tables, report.md); tracked in MLflow as a parent run with a child per image and point.
Common settings (every setting, with its default, is listed below):
  data.folder=path/to/kodak data.crop=null|N data.max_images=null|N
  ladder=[[4,20],[4,30],[9,28],[9,40],[12,49]] (COIN's nets) num_epochs=2000 optim.lr=2e-4 trainer=cpu|gpu
  quant.bits=8 quant.mode=uniform|fp16 coder=auto qat_steps=300 codecs=[jpeg,jpeg2000,webp,avif,jxl,heic]
  batch_images=null|true|false batch_memory_mb=2048 output_dir=rd_report reference_dir=path/to/reference/kodak
  inr_codecs=[coin,siren_pe,latent] inr_codec=coin|siren_pe|latent (its conf/inr_codec/ settings, inr_codec.*=...)
  'inr_settings={latent: {train: {steps: 1500}}}' 'inr_ladders={latent: [{train: {lam: 0.01}}, {train: {lam: 0.002}}]}'
  +experiment=rd_cpu (256 px crops, all three INR codecs on a 2-core CPU budget)
  track=true tracking.uri=... debug=true"""


def settings_from(cfg) -> "RDSettings":
    """RDSettings from the composed rd config."""
    from omegaconf import OmegaConf

    from siren_inr.compression.inr_codecs import merged
    from siren_inr.jobs.rd import RDSettings

    if OmegaConf.is_missing(cfg.data, "folder"):
        raise SirenInrError("missing setting data.folder; e.g. data.folder=path/to/kodak")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    data = resolved["data"]
    model = dict(resolved["model"])
    name = model.pop("name")
    for key in ("in_features", "out_features", "hidden_features", "hidden_layers"):
        model.pop(key, None)
    quant, coder, qat = codec_settings_from(cfg)
    ladder = resolved["ladder"]
    if not isinstance(ladder, list) or not all(isinstance(p, list) and len(p) == 2 for p in ladder):
        raise SirenInrError(f"ladder={ladder!r}; accepted: a list of [hidden_layers, width] pairs")
    seed = checked_seed(resolved["seed"])
    codecs = resolved["codecs"]
    if isinstance(codecs, str):
        codecs = [codecs]
    inr_codecs = resolved.get("inr_codecs", ["coin"])
    if isinstance(inr_codecs, str):
        inr_codecs = [inr_codecs]
    inr_codecs = list(inr_codecs)
    inr_settings = resolved.get("inr_settings") or {}
    if not isinstance(inr_settings, dict):
        raise SirenInrError(f"inr_settings={inr_settings!r}; accepted: a mapping from INR codec name to its settings")
    inr_settings = dict(inr_settings)
    chosen, group = inr_codec_choice(resolved)
    if resolved.get("inr_codec") is not None:
        # inr_codec=NAME (conf/inr_codec/NAME.yaml, inr_codec.* overrides): NAME's settings in this study, under
        # inr_settings.NAME; NAME joins inr_codecs. (coin's yaml states the study's own settings unless one is given
        # there; its points stay the study's `ladder`.)
        if chosen not in inr_codecs:
            inr_codecs.append(chosen)
        base = inr_settings.get(chosen) or {}
        if not isinstance(base, dict):
            raise SirenInrError(f"inr_settings.{chosen}={base!r}; accepted: a mapping of {chosen} settings")
        inr_settings[chosen] = merged(group, base)
    return RDSettings(
        folder=str(data["folder"]), output_dir=str(resolved["output_dir"]), images=data["images"],
        max_images=data["max_images"], crop=data["crop"], ladder=[tuple(p) for p in ladder], model_name=name,
        model_hparams=model, fit=fit_settings_from(cfg), seed=seed, quant=quant, coder=coder, qat=qat,
        codecs=list(codecs), inr_codecs=inr_codecs, inr_settings=inr_settings,
        inr_ladders=resolved.get("inr_ladders") or {}, bd_method=resolved["bd_method"],
        reference_dir=resolved["reference_dir"], batch_images=resolved["batch_images"],
        batch_memory_mb=resolved["batch_memory_mb"],
    ).validate()


def _study(cfg) -> int:
    """Run the study of a composed rd config and print where its report is and its mean numbers."""
    from omegaconf.errors import MissingMandatoryValue

    import numpy as np

    from siren_inr.compression.bd import bd_cell
    from siren_inr.jobs.rd import MlflowTracking, NoTracking, run_study

    try:
        settings = settings_from(cfg)
    except MissingMandatoryValue as err:
        raise SirenInrError(f"missing setting {err.full_key}") from None
    tracker = (MlflowTracking(cfg.tracking.uri, cfg.experiment_name, {"study": "rd"})
               if check_flag("track", cfg.track) else NoTracking())
    result = run_study(settings, tracker)
    mean_bd = result.bd[result.bd["image"] == "mean"]
    print(f"report: {result.output_dir / 'report.md'}" +
          (f" (MLflow parent run {result.parent_run_id})" if result.parent_run_id else ""))
    for _, row in result.means[result.means["kind"] == "inr"].iterrows():
        print(f"  {row['codec']} {row['point']}: {row['bpp']:.4f} bpp, PSNR {row['psnr_db']:.2f} dB, "
              f"SSIM {row['ssim']:.4f}")
    for _, row in mean_bd.iterrows():
        print(f"  {row['inr_codec']} vs {row['anchor']}: "
              f"BD-rate {bd_cell(row['bd_rate_percent'], row['bd_rate_note'], 1)}"
              f"{' %' if np.isfinite(row['bd_rate_percent']) else ''}, BD-PSNR "
              f"{bd_cell(row['bd_psnr_db'], row['bd_psnr_note'], 2)}{' dB' if np.isfinite(row['bd_psnr_db']) else ''}")
    return 0


def main(argv: list[str], prog: str = "siren-inr rd") -> int:
    """Entry point of `siren-inr rd`."""
    return run_command(argv, prog, lambda _: f"{_HELP}\n\n{settings_help(CONFIG_NAME, argv)}", _study,
                       config=CONFIG_NAME)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
