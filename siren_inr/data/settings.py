"""The `data` group of a fit: which image, at which size, in which batches."""

from __future__ import annotations

from dataclasses import dataclass

from siren_inr.data.image import DEFAULT_MAX_PIXELS, checked_max_pixels, checked_sidelength, resolve_image_source
from siren_inr.errors import SirenInrError
from siren_inr.validation import check_positive_int

MAX_BATCH = 10 ** 9


@dataclass
class DataSpec:
    """Which image, at which size, in which batches (also the Hydra schema of `conf/data/`)."""

    image: str = "cameraman"  # a scikit-image name (cameraman, astronaut, ...) or an image file path
    sidelength: int | None = 256  # resize the shorter edge and centre-crop to a square; None keeps native H x W
    batch_size: int | None = None  # pixels per optimizer step (random mini-batches); None = the whole image
    eval_chunk_size: int = 262144  # pixels per forward pass when predicting the whole image (bounds memory)
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images are refused from their header, before decoding

    def validate(self) -> "DataSpec":
        """Raise SirenInrError naming the first bad value."""
        if not isinstance(self.image, str) or not self.image.strip():
            raise SirenInrError(f"data.image={self.image!r}; accepted: a scikit-image name or an image file path")
        resolve_image_source(self.image)  # a missing file or a folder is refused before any folder is made
        checked_sidelength(self.sidelength)
        check_positive_int("data.batch_size", self.batch_size, MAX_BATCH, optional=True,
                           accepted=f"a positive integer up to {MAX_BATCH}")
        check_positive_int("data.eval_chunk_size", self.eval_chunk_size, MAX_BATCH)
        checked_max_pixels(self.max_pixels)
        return self
