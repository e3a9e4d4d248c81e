"""The points of a rate–distortion study: an INR codec's files at each ladder point, each classical codec's sweep.

A codec the command fits (registry `fitted_by_command`: coin, COIN 2021) has the study's `ladder` as its
points, its `inr_settings` written over the study's fit settings (registry `onto_command`); at one ladder
point the images of the same size are fitted together in one batched network
(`fit_batched`, chunked to the memory a step may use; the same result as separate fits within float
rounding), or one at a time with `fit_model` when the settings need it (another model family, mini-batches,
compilation, several devices). Quantization, quantization-aware tuning, encoding and the .inr file stay per
image. Classical codecs: every image at the same settings from the codec's smallest file up past the
image's largest INR file (`classical.sweep`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siren_inr.compression import inr_codecs
from siren_inr.compression.classical import ClassicalPoint, largest_not_above, sweep
from siren_inr.compression.codec import encode_inr, write_inr
from siren_inr.compression.qat import quantization_aware_finetune
from siren_inr.compression.registry import inr_codec
from siren_inr.compression.registry import inr_codecs as registered_inr_codecs
from siren_inr.data import PixelField
from siren_inr.data.pixels import signed_to_unit
from siren_inr.fit.batched import MIB, batches_tiled, fit_batched, images_per_chunk
from siren_inr.fit.module import predict_values
from siren_inr.fit.trainer import fit_model
from siren_inr.jobs.compress import codec_settings_onto
from siren_inr.metrics.benford import (BENFORD_JSD_DCT, BENFORD_JSD_PIXELS, DigitReference, digit_divergences,
                                       digit_references)
from siren_inr.metrics.quality import psnr_db
from siren_inr.models import build_model
from siren_inr.seeding import seed_all

# `settings` below is a jobs.rd.RDSettings (not imported: rd.py imports this module).
RDSettings = Any

INR_KIND, CLASSICAL_KIND = "inr", "classical"


def ladder_label(depth: int, width: int) -> str:
    """'9x28' for 9 hidden layers of width 28 (COIN's "10x28", which counts the first layer too)."""
    return f"{depth}x{width}"


def can_batch(settings: RDSettings) -> bool:
    """Whether the study's fits may run as batched networks (full-batch SIREN fits on one device, plain fp32)."""
    fit = settings.fit
    # By default: on a GPU (one bmm per layer for all images), and on a CPU where the tiled step runs (no
    # Lightning loop, history rows or trainer set-up per image).
    wanted = settings.batch_images if settings.batch_images is not None else (fit.device() == "cuda" or fit.tiled_step)
    return (wanted and settings.model_name == "siren" and fit.batch_size is None
            and not fit.compile and fit.precision == "32-true" and str(fit.devices) in ("1", "auto")
            and fit.num_nodes == 1 and fit.strategy == "auto")


def _hparams(settings: RDSettings, depth: int, width: int, channels: int) -> dict[str, Any]:
    return {"in_features": 2, "out_features": channels, "hidden_features": width, "hidden_layers": depth,
            **settings.model_hparams}


def _chunks(indices: list[int], size: int) -> list[list[int]]:
    return [indices[i : i + size] for i in range(0, len(indices), size)]


def fit_images(images: Sequence[np.ndarray], depth: int, width: int,
               settings: RDSettings) -> list[tuple[torch.nn.Module, float, float, int]]:
    """(network on the CPU, fit PSNR dB, fit seconds, images fitted together) per image, each network started
    from the study's seed as `fit_model` would start it."""
    results: list[tuple[torch.nn.Module, float, float, int] | None] = [None] * len(images)
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(index)
    for shape, indices in groups.items():
        hparams = _hparams(settings, depth, width, shape[2])
        per_chunk = 1
        if can_batch(settings):
            net = build_model(settings.model_name, **hparams)
            per_chunk = images_per_chunk(net, shape[0] * shape[1], settings.batch_memory_mb * MIB,
                                         tiled=batches_tiled(net, settings.fit))
        for chunk in _chunks(indices, per_chunk):
            if len(chunk) == 1:
                seed_all(settings.seed)
                start = time.perf_counter()
                # The study reads only the final fit, so no history rows (each one a whole-image SSIM) on the way.
                fit = replace(settings.fit, log_every_n_steps=settings.fit.num_epochs)
                fitted = fit_model(settings.model_name, hparams, PixelField.from_image(images[chunk[0]]), fit)
                results[chunk[0]] = (fitted.model.cpu(), fitted.final["psnr"], time.perf_counter() - start, 1)
            else:
                for index, result in zip(chunk, _fit_chunk([images[i] for i in chunk], hparams, settings)):
                    results[index] = result
    return [r for r in results if r is not None]


def _fit_chunk(images: list[np.ndarray], hparams: dict[str, Any],
               settings: RDSettings) -> list[tuple[torch.nn.Module, float, float, int]]:
    fit = settings.fit
    torch.set_float32_matmul_precision(fit.matmul_precision)
    if fit.num_threads:
        torch.set_num_threads(fit.num_threads)
    fields = [PixelField.from_image(image) for image in images]
    nets = []
    for _ in images:
        seed_all(settings.seed)
        nets.append(build_model(settings.model_name, **hparams))
    device = fit.device()
    values = torch.stack([f.values for f in fields]).to(device)
    start = time.perf_counter()
    result = fit_batched(nets, fields[0].coords.to(device), values, steps=fit.num_epochs, settings=fit,
                         read_every=fit.num_epochs)
    seconds = (time.perf_counter() - start) / len(images)
    out = []
    for net, field_ in zip(result.nets, fields):
        net = net.cpu().eval()
        prediction = field_.to_image(predict_values(net, field_.coords, fit.eval_chunk_size))
        out.append((net, psnr_db(prediction, signed_to_unit(field_.values).reshape(prediction.shape)), seconds,
                    len(images)))
    return out


def with_fitted_codec_settings(settings: RDSettings, codec: str) -> RDSettings:
    """The study's settings with `inr_settings[codec]` of a codec the study fits itself written over its fit, seed,
    quantization, coder and QAT (what the codec's ladder varies, the ladder's network sizes, stays the ladder's)."""
    entry = inr_codec(codec)
    given = {key: value for key, value in settings.inr_settings.get(codec, {}).items()
             if key not in entry.ladder_varies}
    if not given:
        return settings
    return codec_settings_onto(settings, entry, given)[0]


def fitted_ladder_points(codec: str):
    """The rows function of a codec the study fits itself (coin): every image at every point of the study's
    `ladder`, each fitted (batched where it can), tuned, and a real .inr file of the codec."""

    def points(names: Sequence[str], images: Sequence[np.ndarray], settings: RDSettings,
               inr_dir: Path, digits: Sequence[DigitReference] | None = None) -> list[dict[str, Any]]:
        return _fitted_points(codec, names, images, with_fitted_codec_settings(settings, codec), inr_dir, digits)

    return points


def _fitted_points(codec: str, names: Sequence[str], images: Sequence[np.ndarray], settings: RDSettings,
                   inr_dir: Path, digits: Sequence[DigitReference] | None = None) -> list[dict[str, Any]]:
    rows = []
    digits = digit_references(images, digits)
    for depth, width in settings.ladder:
        label = ladder_label(depth, width)
        for name, image, reference, (model, fit_psnr, seconds, together) in zip(
                names, images, digits, fit_images(images, depth, width, settings)):
            qat_before = qat_after = float("nan")
            if settings.qat.steps and settings.quant.mode != "fp32":
                tuned = quantization_aware_finetune(model, PixelField.from_image(image), settings.quant, settings.qat)
                model, qat_before, qat_after = tuned.model, tuned.psnr_before_db, tuned.psnr_after_db
            height, width_px, channels = image.shape
            encoded = encode_inr(model.cpu(), height, width_px, channels, settings.quant, settings.coder,
                                 reference=image, codec=codec)
            write_inr(inr_dir / f"{Path(name).stem}_{label}.inr", encoded.data)
            rows.append({
                "image": name, "kind": INR_KIND, "codec": codec, "point": label, "setting": label,
                "num_bytes": encoded.num_bytes, "bpp": encoded.bpp, "psnr_db": encoded.psnr_db, "ssim": encoded.ssim,
                "fit_psnr_db": fit_psnr, "quant_psnr_db_before_qat": qat_before, "quant_psnr_db_after_qat": qat_after,
                "entropy_method": encoded.decoded.method, "fit_seconds": seconds, "fit_batch": together,
                "num_params": sum(p.numel() for p in model.parameters()), "height": height, "width": width_px,
                "multiplications_per_pixel": inr_codecs.network_multiplications_per_pixel(model),
                **digit_divergences(reference, encoded.decoded.image_u8),
            })
    return rows


def codec_ladder_points(codec: str):
    """The rows function of a codec that trains its own networks (siren_pe, latent): every image at every point of
    the study's ladder for the codec (`inr_ladders[codec]`, else its registered ladder). Each point's settings: the
    codec's defaults, the study's budget as the codec takes it (registry `study_budget`: num_epochs as its steps,
    and for siren_pe also the study's seed, quantization, coder and QAT), the study's `inr_settings[codec]`, then
    the point's own overrides."""

    def points(names: Sequence[str], images: Sequence[np.ndarray], settings: "RDSettings",
               inr_dir: Path, digits: Sequence[DigitReference] | None = None) -> list[dict[str, Any]]:
        study = inr_codec(codec).study_budget(settings.fit.num_epochs, settings.seed, settings.quant, settings.coder,
                                              settings.qat)
        study = inr_codecs.merged(study, settings.inr_settings.get(codec, {}))
        rows = []
        digits = digit_references(images, digits)
        for label, codec_settings in inr_codecs.study_points(codec, study, settings.inr_ladders.get(codec)):
            for name, image, reference in zip(names, images, digits):
                data, reconstruction, info = inr_codecs.encode(codec, image, codec_settings)
                write_inr(inr_dir / f"{Path(name).stem}_{codec}_{label}.inr", data)
                rows.append({"image": name, "kind": INR_KIND, "codec": codec, "point": label, "setting": label,
                             "num_bytes": info["num_bytes"], "bpp": info["bpp"], "psnr_db": info["psnr_db"],
                             "ssim": info["ssim"], "fit_seconds": info["fit_seconds"], "num_params": info["num_params"],
                             "multiplications_per_pixel": info["multiplications_per_pixel"],
                             "fit_psnr_db": float("nan"),  # these codecs report their files' quality only
                             "quant_psnr_db_before_qat": info.get("quant_psnr_db_before_qat", float("nan")),
                             "quant_psnr_db_after_qat": info.get("quant_psnr_db_after_qat", float("nan")),
                             "height": image.shape[0], "width": image.shape[1],
                             **digit_divergences(reference, reconstruction)})
        return rows

    return points


# INR codec name -> the function producing its rows
INR_POINTS = {entry.name: (fitted_ladder_points if entry.fitted_by_command else codec_ladder_points)(entry.name)
              for entry in registered_inr_codecs()}


def classical_points(names: Sequence[str], images: Sequence[np.ndarray], codecs: Sequence[str],
                     up_to_bpp: Sequence[float], digits: Sequence[DigitReference] | None = None,
                     ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], list[ClassicalPoint]]]:
    """Each codec's sweep on every image: the table rows, and the points by (codec, image name)."""
    rows, swept = [], {}
    digits = digit_references(images, digits)
    for codec in codecs:
        for name, curve in zip(names, sweep(images, codec, up_to_bpp, digits)):
            swept[(codec, name)] = curve
            rows += [{"image": name, "kind": CLASSICAL_KIND, "codec": codec, "point": f"{p.quality:g}",
                      "setting": p.quality, "num_bytes": p.num_bytes, "bpp": p.bpp, "psnr_db": p.psnr_db,
                      "ssim": p.ssim, BENFORD_JSD_PIXELS: p.benford_jsd_pixels, BENFORD_JSD_DCT: p.benford_jsd_dct}
                     for p in curve]
    return rows, swept


def add_rate_matches(inr_rows: list[dict[str, Any]], swept: dict[tuple[str, str], list[ClassicalPoint]],
                     codecs: Sequence[str]) -> None:
    """Beside each INR file: each classical codec's largest swept file not above its rate (NaN: none is)."""
    for row in inr_rows:
        for codec in codecs:
            match = largest_not_above(swept[(codec, row["image"])], row["bpp"])
            row[f"{codec}_bpp_at_rate"] = match.bpp if match else float("nan")
            row[f"{codec}_psnr_db_at_rate"] = match.psnr_db if match else float("nan")
            row[f"{codec}_ssim_at_rate"] = match.ssim if match else float("nan")
