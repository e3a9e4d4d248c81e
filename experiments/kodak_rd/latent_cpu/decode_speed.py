"""Benchmark (not a test): seconds to decode a 768x512 latent-codec file on this CPU, and its multiplications per pixel.

    nice -n 10 python3 experiments/kodak_rd/latent_cpu/decode_speed.py [threads]

The file holds networks at their initialisation and Laplace-distributed integer latents at every level
(decoding costs the same whatever values they hold: the passes and networks are fixed by the architecture).
Writes decode_speed.json beside this script.
"""

from __future__ import annotations

import json
import statistics
import sys

import numpy as np
import torch

from siren_inr.compression.codec import time_decoding
from siren_inr.compression.latent.codec import encode_latent_image
from siren_inr.compression.latent.model import LatentArchitecture, LatentDecoder
from siren_inr.compression.latent.train import LatentTrainSettings, TrainedLatents

from run import HERE  # noqa: E402

HEIGHT, WIDTH = 512, 768


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    for refine in (0, 8):
        arch_settings = {"refine": refine}
        arch = LatentArchitecture(HEIGHT, WIDTH, 3, **arch_settings)
        torch.manual_seed(0)
        decoder = LatentDecoder(arch)
        rng = np.random.default_rng(0)
        latents = [torch.from_numpy(rng.laplace(0, 1.5, s).round().astype(np.float32)) for s in arch.level_shapes()]
        image = rng.uniform(size=(HEIGHT, WIDTH, 3)).astype(np.float32)
        encoded = encode_latent_image(image, arch_settings, LatentTrainSettings(lam=0.001, steps=1),
                                      trained=TrainedLatents(latents, decoder, 0.0))
        decoded, times = time_decoding(encoded.data)
        assert np.array_equal(decoded.image_u8, encoded.decoded.image_u8)
        rows.append({"height": HEIGHT, "width": WIDTH, "refine": refine, "threads": threads,
                     "num_bytes": len(encoded.data), "num_latents": encoded.info["num_latents"],
                     "decode_seconds_median": statistics.median(times), "decode_seconds_min": min(times),
                     "multiplications_per_pixel": encoded.info["multiplications_per_pixel"]})
        print(rows[-1], flush=True)
    (HERE / f"decode_speed_{threads}thread.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
