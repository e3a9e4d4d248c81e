"""A command's composed config (`compose`, Hydra's one call, lives in cli/hydra_support.py) turned into the typed
settings the jobs take."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from siren_inr.cli.hydra_support import compose, hydra_message
from siren_inr.errors import SirenInrError

if TYPE_CHECKING:
    from siren_inr.compression.qat import QatSettings
    from siren_inr.compression.quantize import QuantSettings
    from siren_inr.fit.settings import FitSettings
    from siren_inr.jobs.train import TrainJob

__all__ = ["compose", "typed_config", "fit_settings_from", "codec_settings_from", "job_from_config", "train_job",
           "recorded_job", "inr_codec_choice", "refuse_unknown_keys"]

# The schemas (cli/schema.py) are imported where a config is composed or typed: they are built from the library's
# settings, whose modules import torch and Lightning, which a command's --help must not wait for.


def typed_config(cfg, schema):
    """The composed config as its schema's dataclasses; unknown keys (added with +) refused in one line."""
    from omegaconf import OmegaConf

    refuse_unknown_keys(cfg, schema)
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), _without_hydra(cfg)))
    except SirenInrError:
        raise
    except Exception as err:  # OmegaConf's validation errors name the key
        if isinstance(err.__cause__, SirenInrError):  # a settings dataclass refused a value while being built
            raise err.__cause__ from None
        raise SirenInrError(f"bad setting: {hydra_message(err)}") from None


def _codec_schema(cfg):
    from siren_inr.cli.schema import CompressConfig, RDConfig

    return RDConfig if "ladder" in cfg else CompressConfig


def inr_codec_choice(resolved: dict) -> tuple[str, dict]:
    """(name, settings overrides) of a resolved config's `inr_codec` group (coin when none is chosen)."""
    group = dict(resolved.get("inr_codec") or {"name": "coin"})
    return group.pop("name", "coin"), group


def fit_settings_from(cfg, log_every_n_steps: int | None = None) -> "FitSettings":
    """FitSettings from a composed compress or rd config (num_epochs, optim, trainer; one device, no bar).

    log_every_n_steps: history rows (full-image evaluations) every this many steps; None = only at the end.
    """
    from siren_inr.fit.settings import FitSettings

    typed = typed_config(cfg, _codec_schema(cfg))
    every = log_every_n_steps if log_every_n_steps is not None else max(1, int(typed.num_epochs))
    return FitSettings.from_groups(typed.optim, typed.trainer, num_epochs=typed.num_epochs, log_every_n_steps=every,
                                   devices=1, progress="none").validate()


def codec_settings_from(cfg) -> tuple["QuantSettings", str, "QatSettings"]:
    """Quantization, entropy coder and QAT settings from a composed compress or rd config."""
    import dataclasses

    from siren_inr.compression.entropy import check_coder
    from siren_inr.compression.qat import QatSettings
    from siren_inr.compression.quantize import QuantSettings

    typed = typed_config(cfg, _codec_schema(cfg))
    given = dict(typed.quant or {})
    declared = [f.name for f in dataclasses.fields(QuantSettings)]
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise SirenInrError(f"unknown setting quant.{unknown[0]}; accepted: {', '.join(declared)}")
    quant = QuantSettings(**given)
    check_coder(typed.coder, byte_payload=quant.mode != "uniform")
    qat = QatSettings(steps=typed.qat_steps, lr=typed.qat_lr, eval_every=typed.qat_eval_every)
    return quant, typed.coder, qat


def job_from_config(cfg) -> "TrainJob":
    """The typed TrainJob of a composed `train` config (its groups are already the library's dataclasses)."""
    from omegaconf import OmegaConf

    from siren_inr.cli.schema import TrainConfig
    from siren_inr.fit.settings import FitSettings
    from siren_inr.jobs.train import TrainJob

    typed = typed_config(cfg, TrainConfig)
    model = dict(typed.model or {})
    model_name = model.pop("name", None)
    fit = FitSettings.from_groups(
        typed.optim, typed.trainer, num_epochs=typed.num_epochs, batch_size=typed.data.batch_size,
        eval_chunk_size=typed.data.eval_chunk_size, log_every_n_steps=typed.log_every_n_steps,
        epochs_til_ckpt=typed.epochs_til_ckpt, last_ckpt_every_n_epochs=typed.last_ckpt_every_n_epochs,
        progress=typed.progress)
    job = TrainJob(model_name=model_name, model_hparams=model, data=typed.data, fit=fit, seed=typed.seed,
                   experiment_name=typed.experiment_name, tracking_uri=typed.tracking.uri, run_name=typed.run_name,
                   ckpt_path=typed.ckpt_path, evaluate_only=typed.evaluate,
                   config=OmegaConf.to_container(cfg, resolve=True))
    return job.validate()


def train_job(overrides: list[str]) -> "TrainJob":
    """The TrainJob `siren-inr train <overrides>` would run."""
    return job_from_config(compose(list(overrides), "train"))


def recorded_job(config: dict) -> "TrainJob":
    """The TrainJob of a recorded, resolved train config (a run's config/config.yaml): what rerun and resume refit."""
    from omegaconf import OmegaConf

    return job_from_config(OmegaConf.create(config))


def refuse_unknown_keys(cfg, schema, prefix: str = "") -> None:
    """A one-line error for a key the schema does not declare (Hydra lets `+key=value` add any key)."""
    import dataclasses

    declared = {f.name: f for f in dataclasses.fields(schema)}
    for key in cfg.keys():
        if not prefix and key == "hydra":
            continue
        if key not in declared:
            close = difflib.get_close_matches(str(key), list(declared), n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise SirenInrError(f"unknown setting {prefix}{key}{hint}; accepted: {', '.join(declared)}")
        sub_schema = declared[key].default_factory if declared[key].default_factory is not dataclasses.MISSING else None
        if sub_schema is not None and dataclasses.is_dataclass(sub_schema) and cfg[key] is not None:
            refuse_unknown_keys(cfg[key], sub_schema, f"{prefix}{key}.")


def _without_hydra(cfg):
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    return plain
