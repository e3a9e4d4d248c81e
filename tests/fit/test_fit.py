"""The Lightning fit: progress, history, batches, schedules, checkpoints and exact reproducibility."""

from __future__ import annotations

import pytorch_lightning as pl
import pytest
import torch

from siren_inr.data import PixelField
from siren_inr.fit.module import INRFitModule
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model, load_module
from siren_inr.errors import SirenInrError

from testkit import smooth_image

SMALL = {"hidden_features": 32, "hidden_layers": 2, "out_features": 1}


def _settings(**overrides) -> FitSettings:
    base = dict(num_epochs=40, lr=1e-3, log_every_n_steps=10, accelerator="cpu", progress="none")
    base.update(overrides)
    return FitSettings(**base)


def _fit(seed=0, **overrides):
    pl.seed_everything(seed, verbose=False)
    field = PixelField.from_image(smooth_image(16))
    return fit_model("siren", SMALL, field, _settings(**overrides))


def test_full_batch_fit_improves_and_records_history():
    result = _fit()
    psnrs = [row["train_psnr"] for row in result.history]
    assert [row["step"] for row in result.history] == [0, 10, 20, 30, 40]
    assert psnrs[-1] > psnrs[0] + 10
    # The closing row is the final evaluation of the trained weights.
    assert result.history[-1]["train_psnr"] == pytest.approx(result.final["psnr"], abs=1e-4)
    assert result.final["mse"] == pytest.approx(10 ** (-result.final["psnr"] / 10), rel=1e-4)
    assert result.prediction.shape == (16, 16, 1)


def test_same_seed_same_history_bit_for_bit():
    first, second = _fit(seed=3), _fit(seed=3)
    assert first.history == second.history
    assert torch.equal(first.prediction, second.prediction)
    assert _fit(seed=4).history != first.history


def test_minibatches_visit_every_pixel_once_per_epoch():
    field = PixelField.from_image(smooth_image(10))
    module = INRFitModule("siren", SMALL, _settings(batch_size=30).as_dict(), field)

    class _Trainer:  # the two attributes setup() reads
        world_size, global_rank = 1, 0

    module._trainer = _Trainer()
    module.setup("fit")
    assert module.steps_per_epoch == 4
    seen = torch.cat([module._batch(step)[0] for step in range(4)])
    assert seen.shape[0] == 100
    assert torch.equal(torch.unique(seen, dim=0), torch.unique(field.coords, dim=0))


def test_minibatch_fit_improves():
    result = _fit(batch_size=64, num_epochs=15, log_every_n_steps=4)
    assert result.global_step == 15 * 4
    assert result.final["psnr"] > result.history[0]["train_psnr"] + 5


@pytest.mark.parametrize("schedule,final_lr", [("cosine", 0.0), ("exponential", 1e-3 * 0.1), ("step", 1e-3 * 0.1**2)])
def test_lr_schedules_decay(schedule, final_lr):
    # 20 full-batch steps: cosine anneals to lr_min (0), exponential decays by lr_gamma over the whole fit, step
    # multiplies by lr_gamma every 10 epochs (twice).
    result = _fit(lr_schedule=schedule, lr_step_epochs=10, lr_gamma=0.1, num_epochs=20)
    assert result.global_step == 20
    lr = result.module.trainer.optimizers[0].param_groups[0]["lr"]
    assert lr == pytest.approx(final_lr, rel=1e-6, abs=1e-12)


def test_step_schedule_counts_epochs_not_optimizer_steps():
    # 4 mini-batches per epoch (256 pixels, batches of 64): a drop every 2 epochs is a drop every 8 optimizer steps,
    # so 20 steps end at lr * gamma^2.
    result = _fit(lr_schedule="step", lr_step_epochs=2, lr_gamma=0.1, num_epochs=5, batch_size=64, log_every_n_steps=4)
    assert result.global_step == 20
    lr = result.module.trainer.optimizers[0].param_groups[0]["lr"]
    assert lr == pytest.approx(1e-3 * 0.1**2, rel=1e-6)


def test_checkpoint_holds_weights_and_history(tmp_path):
    pl.seed_everything(0, verbose=False)
    field = PixelField.from_image(smooth_image(16))
    result = fit_model("siren", SMALL, field, _settings(epochs_til_ckpt=20), checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch000020.ckpt", "epoch000040.ckpt", "last.ckpt"]
    module = load_module(tmp_path / "last.ckpt", field)
    assert module.history == result.history
    with torch.no_grad():
        assert torch.equal(module.net(field.coords), result.model(field.coords))


def test_resume_continues_the_history(tmp_path):
    pl.seed_everything(0, verbose=False)
    field = PixelField.from_image(smooth_image(16))
    fit_model("siren", SMALL, field, _settings(num_epochs=20), checkpoint_dir=tmp_path / "a")
    resumed = fit_model("siren", SMALL, field, _settings(num_epochs=40), checkpoint_dir=tmp_path / "b",
                        ckpt_path=str(tmp_path / "a" / "last.ckpt"))
    steps = [row["step"] for row in resumed.history]
    assert steps == [0, 10, 20, 30, 40]
    assert resumed.global_step == 40


@pytest.mark.parametrize("field_name,value", [("num_epochs", 0), ("lr", -1.0), ("batch_size", 0),
                                              ("lr_schedule", "linear"), ("log_every_n_steps", 0)])
def test_settings_reject_bad_values(field_name, value):
    with pytest.raises(SirenInrError, match=repr(value).replace("(", r"\(")):
        _settings(**{field_name: value}).validate()


def test_siren_beats_relu_and_tanh_at_equal_steps():
    from siren_inr.data import load_image

    field = PixelField.from_image(load_image("cameraman", 24))
    final = {}
    for name in ("siren", "relu", "tanh"):
        pl.seed_everything(0, verbose=False)
        hparams = {"hidden_features": 32, "hidden_layers": 2, "out_features": 1}
        final[name] = fit_model(name, hparams, field,
                                _settings(num_epochs=60, lr=1e-3, log_every_n_steps=30)).final["psnr"]
    assert final["siren"] > final["relu"] + 5 and final["siren"] > final["tanh"] + 5, final
