"""Image loading and validation, coordinate grids and pixel fields (the Lightning DataModule is fit/datamodule.py)."""

from siren_inr.data.field import PixelField, coordinate_grid
from siren_inr.data.image import SKIMAGE_IMAGES, load_image

__all__ = ["PixelField", "coordinate_grid", "load_image", "SKIMAGE_IMAGES"]
