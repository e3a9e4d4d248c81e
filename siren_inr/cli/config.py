"""One place that composes a command's config with Hydra and turns it into the typed settings the jobs take."""

from __future__ import annotations

from typing import Any

from siren_inr.cli.hydra_support import checked_flag, checked_seed, conf_dir, one_line
from siren_inr.errors import SirenInrError


def compose(overrides: list[str], config_name: str) -> Any:
    """The composed config (a DictConfig) of `config_name` for `overrides`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(conf_dir()), version_base=None):
            return hydra_compose(config_name, overrides=list(overrides))
    except Exception as err:  # Hydra's parser/composer raise their own types
        raise SirenInrError(f"bad setting: {one_line(err)}") from None
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
    """Turn the composed DictConfig into the typed TrainJob the library runs."""
    from omegaconf import OmegaConf

    from siren_inr.fit.settings import FitSettings
    from siren_inr.jobs.train import DataSpec, TrainJob
    from siren_inr.tracking.store import checked_experiment_name

    resolved = OmegaConf.to_container(cfg, resolve=True)
    model = dict(resolved["model"])
    model_name = model.pop("name")
    data, trainer, optim = resolved["data"], resolved["trainer"], resolved["optim"]
    fit = FitSettings(
        num_epochs=resolved["num_epochs"], lr=optim["lr"], batch_size=data["batch_size"],
        lr_schedule=optim["lr_schedule"], lr_min=optim["lr_min"], lr_gamma=optim["lr_gamma"],
        lr_step_epochs=optim["lr_step_epochs"], weight_decay=optim["weight_decay"],
        log_every_n_steps=resolved["log_every_n_steps"], epochs_til_ckpt=resolved["epochs_til_ckpt"],
        last_ckpt_every_n_epochs=resolved["last_ckpt_every_n_epochs"], eval_chunk_size=data["eval_chunk_size"],
        accelerator=trainer["accelerator"], devices=trainer["devices"], num_nodes=trainer["num_nodes"],
        strategy=trainer["strategy"], precision=str(trainer["precision"]), deterministic=trainer["deterministic"],
        matmul_precision=trainer["matmul_precision"], compile=trainer["compile"], progress=resolved["progress"],
        compile_mode=trainer["compile_mode"], fused_sine=trainer["fused_sine"], num_threads=trainer["num_threads"],
    )
    for key in ("evaluate", "show", "debug"):  # flags: refuse `evaluate=maybe` rather than read it as true
        checked_flag(key, resolved[key])
    seed = checked_seed(resolved["seed"])
    if not isinstance(data["image"], str) or not data["image"]:
        raise SirenInrError(f"data.image={data['image']!r}; accepted: a scikit-image name or an image file path")
    return TrainJob(model_name=model_name, model_hparams=model,
                    data=DataSpec(image=data["image"], sidelength=data["sidelength"], batch_size=data["batch_size"]),
                    fit=fit, seed=seed, experiment_name=checked_experiment_name(resolved["experiment_name"]),
                    tracking_uri=resolved["tracking"]["uri"], run_name=resolved["run_name"],
                    ckpt_path=resolved["ckpt_path"], evaluate_only=resolved["evaluate"], config=resolved)
