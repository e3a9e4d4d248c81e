"""Benchmark (not a test): seconds to decode a 768x512 latent-codec file (format version 3) on this CPU, per preset,
and the decoded pixels' SHA-256 (the same for every thread count: the entropy model is integer arithmetic and the
pixels float64).

    OMP_NUM_THREADS=1 python3 experiments/kodak_rd/latent_v3/decode_speed.py 1
    python3 experiments/kodak_rd/latent_v3/decode_speed.py 2

Each file holds the preset's networks (initialised, then perturbed by N(0, 0.3) so that the image is not flat) and
Laplace-distributed integer latents (scale 1.5) on every grid: decoding does the same wavefront steps and network
evaluations whatever values they hold, and these latents cost more bits (so more range-decoder work) than a trained
file's. Writes decode_speed_<threads>thread.json beside this script.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from siren_inr.compression.codec import time_decoding
from siren_inr.compression.latent.arm import LATENT_MAX, LATENT_MIN
from siren_inr.compression.latent.bitstream import encode_latent3
from siren_inr.compression.latent.network import Architecture, LatentNetworks
from siren_inr.compression.latent.synthesis import PRESETS
from siren_inr.compression.latent.training import LatentTrainSettings, TrainedLatents
from siren_inr.compression.latent.wavefront import Wavefront

HERE = Path(__file__).resolve().parent
HEIGHT, WIDTH = 512, 768


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    for preset in PRESETS:
        arch = Architecture(HEIGHT, WIDTH, 3, preset=preset)
        torch.manual_seed(0)
        networks = LatentNetworks(arch)
        with torch.no_grad():  # weights of a trained size, so that the image is not a flat grey
            for module in (networks.synthesis, networks.arm):
                for p in module.parameters():
                    p.add_(0.3 * torch.randn_like(p))
        rng = np.random.default_rng(0)
        latents = [torch.from_numpy(np.clip(rng.laplace(0, 1.5, s).round(), LATENT_MIN, LATENT_MAX).astype(np.float32))
                   for s in arch.level_shapes()]
        image = rng.uniform(size=(HEIGHT, WIDTH, 3)).astype(np.float32)
        encoded = encode_latent3(image, {"preset": preset}, LatentTrainSettings(lam=0.001, steps=1, candidates=1,
                                                                                 final_fraction=0.0),
                                 trained=TrainedLatents(latents, networks, 0.0))
        decoded, times = time_decoding(encoded.data)
        assert np.array_equal(decoded.image_u8, encoded.decoded.image_u8)
        steps = sum(Wavefront.of(*s, networks.arm.offsets).steps for s in arch.level_shapes())
        rows.append({"height": HEIGHT, "width": WIDTH, "preset": preset, "threads": threads,
                     "num_bytes": len(encoded.data), "num_latents": encoded.info["num_latents"],
                     "wavefront_steps": steps, "decode_seconds_median": round(statistics.median(times), 3),
                     "decode_seconds_min": round(min(times), 3),
                     "multiplications_per_pixel": round(encoded.info["multiplications_per_pixel"], 1),
                     "distinct_pixel_values": int(np.unique(decoded.image_u8).size),
                     "pixels_sha256": hashlib.sha256(decoded.image_u8.tobytes()).hexdigest()})
        print(rows[-1], flush=True)
    (HERE / f"decode_speed_{threads}thread.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
