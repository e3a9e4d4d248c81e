"""Does quantization-aware tuning pay, and at which bit depth? One fit per (image, size), many encodings.

For each image crop and network size the network is fitted once; then every bit depth (with biases and
coordinate-input matrices at the same depth or at `sensitive_bits`) is encoded with and without
quantization-aware tuning (QAT), and each .inr file is decoded and measured. Writes
results_cpu/qat_check.csv and .md beside this script.

    OMP_NUM_THREADS=1 python experiments/kodak_rd/qat_check.py [--kodak ../shared/data/kodak]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from siren_inr.compression.codec import encode_inr
from siren_inr.compression.qat import QatSettings, quantization_aware_finetune
from siren_inr.compression.quantize import QuantSettings
from siren_inr.jobs.rd import centre_crop
from siren_inr.data import PixelField, load_image
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    """Fit, then encode at each bit depth with and without QAT; print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", default=str(REPO / ".." / "shared" / "data" / "kodak"))
    parser.add_argument("--images", nargs="+", default=["kodim05.png", "kodim23.png"])
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--sizes", nargs="+", default=["3x16", "5x24"])
    parser.add_argument("--bits", nargs="+", type=int, default=[6, 7, 8])
    parser.add_argument("--sensitive-bits", nargs="+", default=["none", "12"],
                        help="bits for biases and coordinate-input matrices; none = the same as --bits")
    parser.add_argument("--epochs", type=int, default=800)
    parser.add_argument("--qat-steps", type=int, default=300)
    parser.add_argument("--qat-lr", type=float, default=1e-5)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results_cpu"))
    args = parser.parse_args(argv)
    rows = []
    start = time.perf_counter()
    for name in args.images:
        image = centre_crop(load_image(str(Path(args.kodak) / name), None), args.crop)
        height, width, channels = image.shape
        field = PixelField.from_image(image)
        for size in args.sizes:
            depth, units = (int(v) for v in size.split("x"))
            torch.manual_seed(0)
            hp = {"in_features": 2, "out_features": channels, "hidden_features": units, "hidden_layers": depth}
            fitted = fit_model("siren", hp, field, FitSettings(num_epochs=args.epochs, lr=2e-4, accelerator="cpu",
                                                              progress="none", log_every_n_steps=args.epochs))
            for sensitive in args.sensitive_bits:
                for bits in args.bits:
                    quant = QuantSettings(bits=bits, sensitive_bits=None if sensitive == "none" else int(sensitive))
                    tuned = quantization_aware_finetune(fitted.model, field, quant,
                                                        QatSettings(steps=args.qat_steps, lr=args.qat_lr))
                    for qat, model in (("off", fitted.model), ("on", tuned.model)):
                        enc = encode_inr(model, height, width, channels, quant, reference=image)
                        rows.append({"image": name, "size": size, "bits": bits, "sensitive_bits": sensitive,
                                     "qat": qat, "num_bytes": enc.num_bytes, "bpp": enc.bpp, "psnr_db": enc.psnr_db,
                                     "ssim": enc.ssim, "fit_psnr_db": fitted.final["psnr"],
                                     "coder": enc.decoded.method})
                        print(f"{name} {size} {bits} bits (sensitive {sensitive}) qat={qat}: {enc.num_bytes} B, "
                              f"{enc.bpp:.3f} bpp, {enc.psnr_db:.2f} dB (float fit {fitted.final['psnr']:.2f})",
                              flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "qat_check.csv", index=False)
    pivot = table.pivot_table(index=["size", "sensitive_bits", "bits"], columns="qat", values=["bpp", "psnr_db"],
                              aggfunc="mean")
    pivot.columns = [f"{a}_qat_{b}" for a, b in pivot.columns]
    pivot["psnr_gain_db"] = pivot["psnr_db_qat_on"] - pivot["psnr_db_qat_off"]
    pivot = pivot.reset_index()
    lines = [f"# Quantization-aware tuning ({args.qat_steps} steps, lr {args.qat_lr}) on {len(args.images)} "
             f"Kodak crops of {args.crop} px, {args.epochs} fit steps; mean over images", "",
             "| size | sensitive bits | bits | bpp (QAT off) | PSNR dB (off) | bpp (on) | PSNR dB (on) | QAT gain dB |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in pivot.iterrows():
        lines.append(f"| {r['size']} | {r['sensitive_bits']} | {r['bits']} | {r['bpp_qat_off']:.3f} | "
                     f"{r['psnr_db_qat_off']:.2f} | {r['bpp_qat_on']:.3f} | {r['psnr_db_qat_on']:.2f} | "
                     f"{r['psnr_gain_db']:+.2f} |")
    lines += ["", f"Wall time {time.perf_counter() - start:.0f} s."]
    (out / "qat_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
