"""siren-inr: implicit neural representations of images, tracked in MLflow."""

__version__ = "0.1.0"
