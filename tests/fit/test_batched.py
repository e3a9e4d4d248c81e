"""Several images fitted at once give what separate fits give (within float rounding)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from siren_inr.data import PixelField
from siren_inr.errors import SirenInrError
from siren_inr.fit.core import adam_for_fit
from siren_inr.fit.batched import BatchedSiren, fit_batched, images_per_chunk, step_bytes_per_image
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model
from siren_inr.models import build_model
from testkit import SMALL_SIREN, random_coords, small_siren, smooth_image

def test_batched_siren_equals_each_network():
    nets = [small_siren(seed) for seed in range(3)]
    coords = random_coords(40)
    batched = BatchedSiren(nets)
    out = batched(coords)
    assert out.shape == (3, 40, 1)
    for k, net in enumerate(nets):
        torch.testing.assert_close(out[k], net(coords), rtol=1e-5, atol=1e-6)


def test_batched_fit_equals_separate_fits():
    images = [smooth_image(12, seed=s)[..., :1] for s in range(2)]
    fields = [PixelField.from_image(img) for img in images]
    nets = [small_siren(seed) for seed in range(2)]
    separate = [copy.deepcopy(n) for n in nets]
    steps, lr = 15, 1e-3
    for net, field in zip(separate, fields):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            loss = torch.mean((net(field.coords) - field.values) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    values = torch.stack([f.values for f in fields])
    result = fit_batched(nets, fields[0].coords, values, steps=steps, lr=lr, read_every=5)
    assert len(result.loss_history) == 4 and len(result.loss_history[0]) == 2
    for fitted, reference in zip(result.nets, separate):
        for p, q in zip(fitted.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("schedule", ["cosine", "step"])
def test_batched_fit_with_fit_settings_equals_fit_model(schedule):
    # The reference is the project's own fit (Lightning, full batch) of each image from the same initial weights.
    settings = FitSettings(num_epochs=12, lr=2e-3, lr_schedule=schedule, lr_min=1e-5, lr_step_epochs=4,
                           lr_gamma=0.5, weight_decay=1e-4, accelerator="cpu", progress="none", log_every_n_steps=12)
    hparams = dict(SMALL_SIREN, out_features=3)
    fields = [PixelField.from_image(smooth_image(10, channels=3, seed=s)) for s in range(3)]
    references = []
    for field in fields:
        torch.manual_seed(7)
        references.append(fit_model("siren", hparams, field, settings).model)
    nets = []
    for _ in fields:
        torch.manual_seed(7)
        nets.append(build_model("siren", **hparams))
    values = torch.stack([f.values for f in fields])
    result = fit_batched(nets, fields[0].coords, values, steps=settings.num_epochs, settings=settings)
    for fitted, reference in zip(result.nets, references):
        for p, q in zip(fitted.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    # Not the same as a fit without the schedule: the settings were really used.
    torch.manual_seed(7)
    constant = [build_model("siren", **hparams) for _ in fields]
    fit_batched(constant, fields[0].coords, values, steps=settings.num_epochs, lr=settings.lr)
    assert not torch.allclose(constant[0].net[0].linear.weight, result.nets[0].net[0].linear.weight, atol=1e-6)


@pytest.mark.parametrize("schedule", ["none", "cosine", "exponential", "step"])
def test_adam_with_schedule_sets_the_lr_of_every_optimizer_step(schedule):
    # 12 optimizer steps, 3 per epoch: cosine anneals to lr_min, exponential reaches lr * lr_gamma at the end,
    # step multiplies by lr_gamma every lr_step_epochs (2) epochs, i.e. every 6 optimizer steps.
    settings = FitSettings(lr=1e-2, lr_schedule=schedule, lr_min=1e-4, lr_gamma=0.5, lr_step_epochs=2)
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer, scheduler = adam_for_fit([weight], settings, total_steps=12, steps_per_epoch=3)
    assert (scheduler is None) == (schedule == "none")
    lrs = []
    for _ in range(12):
        weight.grad = torch.ones(1)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    expected = {
        "none": [1e-2] * 12,
        "cosine": [1e-4 + (1e-2 - 1e-4) * 0.5 * (1 + math.cos(math.pi * s / 12)) for s in range(1, 13)],
        "exponential": [1e-2 * 0.5 ** (s / 12) for s in range(1, 13)],
        "step": [1e-2 * 0.5 ** (s // 6) for s in range(1, 13)],
    }[schedule]
    assert lrs == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_cpu_batched_fit_runs_the_tiled_step_and_equals_the_bmm_fit(monkeypatch):
    from siren_inr.fit import batched

    fields = [PixelField.from_image(smooth_image(16, channels=3, seed=s)) for s in range(3)]
    values = torch.stack([f.values for f in fields])
    hparams = dict(SMALL_SIREN, out_features=3)
    calls = []
    real = batched.tiled_mse
    monkeypatch.setattr(batched, "tiled_mse", lambda *a, **k: calls.append(1) or real(*a, **k))
    fitted = {}
    for tiled in (True, False):
        torch.manual_seed(3)
        nets = [build_model("siren", **hparams) for _ in fields]
        settings = FitSettings(num_epochs=10, lr=1e-3, tiled_step=tiled)
        fitted[tiled] = fit_batched(nets, fields[0].coords, values, steps=10, settings=settings).nets
    assert len(calls) == 10 * len(fields)  # the tiled fit only: one tiled step per image and step
    for a, b in zip(fitted[True], fitted[False]):
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_chunk_size_follows_the_memory_budget():
    net = small_siren(0, hidden_features=28, hidden_layers=9, out_features=3)
    pixels = 256 * 256
    # Hand count: per pixel 4 bytes x (2 x 2 coords + 4 x (9 x 28 + 28 + 3) activations + 2 x 3 values).
    assert step_bytes_per_image(net, pixels) == pixels * 4 * (4 + 4 * (10 * 28 + 3) + 6)
    one = step_bytes_per_image(net, pixels)
    assert images_per_chunk(net, pixels, 8 * one) == 8
    assert images_per_chunk(net, pixels, 8 * one - 1) == 7
    assert images_per_chunk(net, pixels, 10) == 1


def test_tiled_chunks_count_only_the_pixel_field_and_hold_what_they_count():
    # On the CPU the tiled step keeps its activations in tile buffers that every image of a batch reuses, so an
    # image costs its pixel field, not its activations: rd's 8 crops of 256² fit in one chunk at 9 x 28.
    from siren_inr.bench.probes import MemoryProbe
    from siren_inr.fit.batched import batches_tiled

    net = small_siren(0, hidden_features=28, hidden_layers=9, out_features=3)
    pixels = 256 * 256
    assert step_bytes_per_image(net, pixels, tiled=True) == pixels * 4 * (4 + 6)
    assert images_per_chunk(net, 256 * 256, 2048 * 1024 ** 2, tiled=True) >= 8
    assert images_per_chunk(net, 256 * 256, 2048 * 1024 ** 2) < 8  # what the activation count allowed
    assert batches_tiled(net, FitSettings()) and not batches_tiled(net, FitSettings(tiled_step=False))
    assert not batches_tiled(build_model("relu", in_features=2, out_features=3), FitSettings())
    # Measured: one more image adds no more than the count says (tensor bytes at the step's peak).
    n = 64 * 64
    coords, growth = random_coords(n), {}
    for measured in (False, True):  # first unmeasured: TorchScript specialises the tile loop for each batch shape
        for k in (1, 4):              # once, which allocates, whichever test of this process ran a shape first
            values = torch.rand(k, n, 3, generator=torch.Generator().manual_seed(k)) * 2 - 1
            nets = [small_siren(0, hidden_features=28, hidden_layers=9, out_features=3) for _ in range(k)]
            probe = MemoryProbe(torch.device("cpu"))
            probe.start()
            fit_batched(nets, coords, values, steps=2, settings=FitSettings())
            if measured:
                growth[k] = probe.peak_growth_bytes()
    assert 0 < growth[4] - growth[1] <= 3 * step_bytes_per_image(net, n, tiled=True)


def test_batched_siren_refuses_mixed_architectures():
    with pytest.raises(SirenInrError, match="one architecture"):
        BatchedSiren([small_siren(0), small_siren(1, hidden_features=8)])
    with pytest.raises(SirenInrError, match="steps"):
        fit_batched([small_siren(0)], random_coords(10), torch.zeros(1, 10, 1), steps=0)
