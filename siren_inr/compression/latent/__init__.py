"""The latent-grid codec: a pyramid of learned latent grids, a small synthesis network, a learned entropy model.

model.py     the decoder's networks: latent pyramid, upsampling, synthesis (from the model registry), refinement;
             LatentGrids, the size and levels both versions' architectures begin with
entropy.py   the context entropy model (coarse-to-fine, checkerboard), its rate, its range coding passes
train.py     the per-image rate-distortion training loop (plain torch); TrainedLatents, both versions' result
codec.py     weight quantization with an R-D step search, the .inr payload, encode and decode (version 2), and
             the file pieces version 3 shares
bitstream.py the version-3 file (integer entropy model, wavefront decoding); entry.py its registry entry
"""

from siren_inr.compression.latent.entry import LATENT
from siren_inr.compression.registry import register_inr_codec

register_inr_codec(LATENT)
