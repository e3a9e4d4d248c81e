"""Image quality (torchmetrics adapters) and Benford statistics."""

from siren_inr.metrics.quality import mse, psnr_db, ssim

__all__ = ["mse", "psnr_db", "ssim"]
