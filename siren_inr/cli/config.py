"""One place that composes a command's config with Hydra and turns it into the typed settings the jobs take."""

from __future__ import annotations

import difflib
from typing import Any

from siren_inr.cli.hydra_support import conf_dir, hydra_message
from siren_inr.cli.schema import TrainConfig, register_schemas
from siren_inr.errors import SirenInrError


def compose(overrides: list[str], config_name: str) -> Any:
    """The composed config (a DictConfig) of `config_name` for `overrides`."""
    register_schemas()
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(conf_dir()), version_base=None):
            return hydra_compose(config_name, overrides=list(overrides))
    except Exception as err:  # Hydra's parser/composer raise their own types
        raise SirenInrError(f"bad setting: {hydra_message(err)}") from None
    finally:
        GlobalHydra.instance().clear()


def fit_settings_from(cfg, log_every_n_steps: int | None = None) -> "FitSettings":
    """FitSettings from the composed compress/rd config (num_epochs, optim, trainer).

    log_every_n_steps: history rows (full-image evaluations) every this many steps; None = only at the end.
    """
    from omegaconf import OmegaConf

    from siren_inr.fit.settings import FitSettings

    resolved = OmegaConf.to_container(cfg, resolve=True)
    optim, trainer = resolved["optim"], resolved["trainer"]
    if log_every_n_steps is None:
        log_every_n_steps = max(1, int(resolved["num_epochs"]))
    return FitSettings(
        num_epochs=resolved["num_epochs"], lr=optim["lr"], lr_schedule=optim["lr_schedule"],
        lr_min=optim["lr_min"], lr_gamma=optim["lr_gamma"], lr_step_epochs=optim["lr_step_epochs"],
        weight_decay=optim["weight_decay"], log_every_n_steps=log_every_n_steps,
        accelerator=trainer["accelerator"], devices=1, precision=str(trainer["precision"]),
        deterministic=trainer["deterministic"], matmul_precision=trainer["matmul_precision"],
        compile=trainer["compile"], compile_mode=trainer["compile_mode"], fused_sine=trainer["fused_sine"],
        num_threads=trainer["num_threads"], progress="none",
    ).validate()


def codec_settings_from(cfg) -> tuple["QuantSettings", str, "QatSettings"]:
    """Quantization, entropy coder and QAT settings from a composed config."""
    from omegaconf import OmegaConf

    from siren_inr.compression.entropy import check_coder
    from siren_inr.compression.qat import QatSettings
    from siren_inr.compression.quantize import QuantSettings

    resolved = OmegaConf.to_container(cfg, resolve=True)
    q = resolved["quant"]
    quant = QuantSettings(mode=q["mode"], bits=q["bits"], per_channel=q["per_channel"],
                          sensitive_bits=q["sensitive_bits"])
    coder = resolved["coder"]
    check_coder(coder, byte_payload=quant.mode != "uniform")
    qat = QatSettings(steps=resolved["qat_steps"], lr=resolved["qat_lr"], eval_every=resolved["qat_eval_every"])
    return quant, coder, qat


def job_from_config(cfg) -> "TrainJob":
    """The typed TrainJob of a composed `train` config (its groups are already the library's dataclasses)."""
    from omegaconf import OmegaConf

    from siren_inr.fit.settings import FitSettings
    from siren_inr.jobs.train import TrainJob

    refuse_unknown_keys(cfg, TrainConfig)
    typed = OmegaConf.to_object(cfg) if OmegaConf.get_type(cfg) is not dict else None
    if typed is None:  # a plain dict config (a run recorded before the schemas): type it now
        typed = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainConfig), _without_hydra(cfg)))
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
