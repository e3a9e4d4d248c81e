"""Cool-chic, the peer: run a user's Cool-chic checkout on the rd study's crops and lambda ladder, one encode at a
time, and write its points as a reference curve that `siren-inr rd reference_dir=...` compares with.

    python experiments/kodak_rd/coolchic_peer/run.py --coolchic ~/Cool-Chic --python ~/cc-venv/bin/python \
        --folder ../shared/data/kodak --images kodim01 --lambdas 0.01 0.004 0.001 --steps 3000 --preset lop

Each (image, lambda) is one point: the image is loaded and centre-cropped by this project's own loader and crop (the
crops `rd` uses), written as a PNG, encoded by Cool-chic's `cc_encode.py` (through launch.py, in the Python given
by --python), decoded again by its `cc_decode.py`, and measured here: bpp = 8 x the bitstream's bytes / pixels,
PSNR on [0, 1] by siren_inr.metrics.psnr_db against the crop. Points already in points.json are skipped, so a
stopped run resumes. After every point, points.json and the reference file (coolchic-<preset>.json: mean curve
over the lambdas every image has, per-image curves, the crop size) are rewritten atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from siren_inr.data import load_image
from siren_inr.data.image import save_png
from siren_inr.jobs.rd import centre_crop
from siren_inr.metrics.quality import psnr_db

HERE = Path(__file__).resolve().parent
PRESETS = ("lop", "mop", "hop", "vhop")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def checkout_version(checkout: Path) -> str:
    try:
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown commit"
    found = re.search(r"\| version (\d+(?:\.\d+)+)", (checkout / "cc_encode.py").read_text())
    return f"{found.group(1) if found else 'unknown version'} ({commit})"


def write_json(path: Path, data) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(partial, path)


def reference_curves(points: list[dict], preset: str, steps: int, crop: int, version: str) -> dict:
    """The reference-curve file of rd's reference_dir: mean curve over the lambdas every image has, per image."""
    images = sorted({p["image"] for p in points})
    lambdas = sorted({p["lambda"] for p in points}, reverse=True)
    by_key = {(p["image"], p["lambda"]): p for p in points}
    shared = [lam for lam in lambdas if all((image, lam) in by_key for image in images)]
    per_image = {}
    for image in images:
        mine = [by_key[(image, lam)] for lam in lambdas if (image, lam) in by_key]
        per_image[image] = {"bpp": [p["bpp"] for p in mine], "psnr": [p["psnr_db"] for p in mine],
                            "lambda": [p["lambda"] for p in mine]}
    return {
        "name": f"Cool-chic {preset}",
        "description": (f"Cool-chic {version}, preset {preset}, {steps} steps, on {crop}x{crop} centre crops, run on "
                        f"this project's machine type by experiments/kodak_rd/coolchic_peer/run.py"),
        "crop": crop,
        "results": {
            "bpp": [float(np.mean([by_key[(i, lam)]["bpp"] for i in images])) for lam in shared],
            "psnr": [float(np.mean([by_key[(i, lam)]["psnr_db"] for i in images])) for lam in shared],
            "lambda": shared,
            "per_image": per_image,
        },
    }


def points_table(points: list[dict]) -> str:
    """The points as a Markdown table (image, lambda, bytes, bpp, PSNR, encode time)."""
    lines = ["| image | λ | bytes | bpp | PSNR dB | encode s (wall / CPU) | load at end |",
             "|---|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (p["image"], -p["lambda"])):
        lines.append(f"| {p['image']} | {p['lambda']:g} | {p['bytes']:,} | {p['bpp']:.4f} | {p['psnr_db']:.2f} | "
                     f"{p['encode_seconds']:.0f} / {p['encode_cpu_seconds']:.0f} | {p['load_average_at_end']:.1f} |")
    return "\n".join(lines)


def run_point(args, checkout: Path, image_path: Path, lam: float, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    crop = centre_crop(load_image(str(image_path), None), args.crop)
    crop_png = save_png(work / "crop.png", crop)
    bitstream, decoded = work / "bitstream.cool", work / "decoded.png"
    launch = [args.python, str(HERE / "launch.py"), str(checkout)]
    encode = launch + ["encode"] + (["--rdoq"] if args.rdoq else []) + [
        "--", f"--input={crop_png}", f"--output={bitstream}", f"--workdir={work}", f"--lmbda={lam}",
        f"--n_itr={args.steps}", f"--dec_cfg_residue={checkout / 'cfg/dec/intra' / (args.preset + '.cfg')}"]
    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(work / "encode.log", "w") as log:
        subprocess.run(encode, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=work, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(work / "decode.log", "w") as log:
        subprocess.run(launch + ["decode", "--", f"--input={bitstream}", f"--output={decoded}"], stdout=log,
                       stderr=subprocess.STDOUT, check=True, cwd=work, env=env)
    decoded_image = load_image(str(decoded), None)
    if decoded_image.shape != crop.shape:
        raise RuntimeError(f"{decoded}: decoded shape {decoded_image.shape} against the crop's {crop.shape}")
    size = bitstream.stat().st_size
    return {
        "image": image_path.stem, "lambda": lam, "preset": args.preset, "steps": args.steps, "crop": args.crop,
        "bytes": size, "bpp": 8.0 * size / (crop.shape[0] * crop.shape[1]), "psnr_db": psnr_db(decoded_image, crop),
        "encode_seconds": round(seconds, 1),
        "encode_cpu_seconds": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 1),
        "threads": args.threads or "default", "rdoq": bool(args.rdoq), "coolchic": checkout_version(checkout),
        "cpu": cpu_model(), "cores": os.cpu_count(), "load_average_at_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coolchic", required=True, type=Path, help="a Cool-chic checkout (its cc_encode.py)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs Cool-chic")
    parser.add_argument("--folder", required=True, type=Path, help="folder holding the images")
    parser.add_argument("--images", nargs="+", default=["kodim01", "kodim05", "kodim15", "kodim23"])
    parser.add_argument("--lambdas", nargs="+", type=float, default=[0.01, 0.004, 0.001])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--preset", choices=PRESETS, default="lop")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for Cool-chic (OMP_NUM_THREADS; default: torch's own choice)")
    parser.add_argument("--rdoq", action="store_true", help="keep Cool-chic's greedy RDOQ (slow on a CPU)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: OUT/work, not committed)")
    args = parser.parse_args()
    checkout = args.coolchic.expanduser().resolve()
    if not (checkout / "cc_encode.py").is_file():
        parser.error(f"--coolchic {args.coolchic}: no cc_encode.py there (give a Cool-chic checkout)")
    if not args.folder.is_dir():
        parser.error(f"--folder {args.folder}: not a folder")
    if args.steps < 2000:
        parser.error(f"--steps {args.steps}: Cool-chic's intra preset needs at least 2000")
    paths = []
    for name in args.images:
        found = [p for p in (args.folder / name, args.folder / f"{name}.png") if p.is_file()]
        if not found:
            parser.error(f"--images {name}: no such image in {args.folder}")
        paths.append(found[0])
    args.out.mkdir(parents=True, exist_ok=True)
    work_root = args.work or args.out / "work"
    version = checkout_version(checkout)
    points_file = args.out / "points.json"
    record = json.loads(points_file.read_text()) if points_file.is_file() else {"points": []}
    for point in record["points"]:  # older points name the machine and checkout of the run that wrote them
        for key in ("coolchic", "cpu", "cores"):
            point.setdefault(key, record.get(key))
    record.update({"coolchic": version, "cpu": cpu_model(), "cores": os.cpu_count(), "python": args.python})
    done = {(p["image"], p["lambda"], p["preset"], p["steps"], p["crop"]) for p in record["points"]}
    def write_outputs() -> None:
        write_json(points_file, record)
        mine = [p for p in record["points"]
                if (p["preset"], p["steps"], p["crop"]) == (args.preset, args.steps, args.crop)]
        if mine:
            write_json(args.out / f"coolchic-{args.preset}.json",
                       reference_curves(mine, args.preset, args.steps, args.crop, version))

    for path in paths:
        for lam in args.lambdas:
            key = (path.stem, lam, args.preset, args.steps, args.crop)
            if key in done:
                print(f"{path.stem} lambda={lam}: done already, skipped", flush=True)
                continue
            print(f"{path.stem} lambda={lam}: encoding ({args.preset}, {args.steps} steps)", flush=True)
            point = run_point(args, checkout, path, lam, work_root / f"{args.preset}_{args.steps}_{path.stem}_{lam}")
            print(f"  {point['psnr_db']:.2f} dB at {point['bpp']:.4f} bpp, {point['encode_seconds']:.0f} s", flush=True)
            record["points"].append(point)
            write_outputs()
    write_outputs()  # also after a run that had nothing left to do: the metadata of this machine and checkout
    print(points_table(record["points"]))


if __name__ == "__main__":
    main()
