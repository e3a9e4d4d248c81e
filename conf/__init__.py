"""The commands' Hydra configs. Installed as the package `siren_inr.conf`, so that a wheel ships them."""
