"""Fast settings compute the same function as the default path on the same weights."""

from __future__ import annotations

import pytest
import torch

from siren_inr.data import PixelField
from siren_inr.errors import SirenInrError
from siren_inr.fit.fast import fused_sine_layer, training_forward
from siren_inr.fit.module import INRFitModule
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model
from siren_inr.models import build_model
from testkit import SMALL_SIREN, random_coords, small_siren, smooth_image

def _grads(forward, net, coords, target):
    net.zero_grad(set_to_none=True)
    out = forward(coords)
    torch.mean((out - target) ** 2).backward()
    return out.detach(), [p.grad.clone() for p in net.parameters()]


def test_fused_sine_layer_matches_autograd_in_float64():
    from siren_inr.models.siren import SineLayer

    torch.manual_seed(0)
    layer = SineLayer(4, 3, omega_0=30.0, is_first=False).double()
    x = torch.rand(6, 4, dtype=torch.float64, requires_grad=True)
    # gradcheck compares the hand-written backward with finite differences of the forward.
    assert torch.autograd.gradcheck(lambda v, w, b: fused_sine_layer_with(layer, v, w, b),
                                    (x, layer.linear.weight.detach().clone().requires_grad_(),
                                     layer.linear.bias.detach().clone().requires_grad_()))
    torch.testing.assert_close(fused_sine_layer(layer, x), layer(x))


def fused_sine_layer_with(layer, x, weight, bias):
    from siren_inr.fit.fast import FusedSineLinear

    return FusedSineLinear.apply(x, weight, bias, float(layer.omega_0))


@pytest.mark.parametrize("outermost_linear", [True, False])
def test_fused_forward_same_outputs_and_gradients(outermost_linear):
    net = small_siren(outermost_linear=outermost_linear)
    coords, target = random_coords(), torch.rand(300, 1) * 2 - 1
    out_ref, grads_ref = _grads(net, net, coords, target)
    out_fused, grads_fused = _grads(training_forward(net, fused_sine=True), net, coords, target)
    # fp32 sines of arguments up to ~50 round at ~4e-6; the tolerances sit just above that.
    torch.testing.assert_close(out_fused, out_ref, rtol=1e-4, atol=2e-5)
    for g_fused, g_ref in zip(grads_fused, grads_ref):
        torch.testing.assert_close(g_fused, g_ref, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_compiled_forward_same_outputs_and_gradients():
    # trainer=fast compiles the training forward; on CPU inductor emits C++ (the one slow test here).
    net = small_siren(hidden_features=8, hidden_layers=1)
    coords, target = random_coords(64), torch.rand(64, 1) * 2 - 1
    out_ref, grads_ref = _grads(net, net, coords, target)
    out_c, grads_c = _grads(training_forward(net, compile=True), net, coords, target)
    torch.testing.assert_close(out_c, out_ref, rtol=1e-4, atol=2e-5)
    for g_c, g_ref in zip(grads_c, grads_ref):
        torch.testing.assert_close(g_c, g_ref, rtol=1e-3, atol=1e-4)


def test_fused_fit_tracks_default_fit():
    field = PixelField.from_image(smooth_image(16))
    hparams = {k: v for k, v in SMALL_SIREN.items()}
    runs = {}
    for fused in (False, True):
        torch.manual_seed(3)
        settings = FitSettings(num_epochs=20, lr=1e-3, log_every_n_steps=10, progress="none", accelerator="cpu",
                               fused_sine=fused)
        runs[fused] = fit_model("siren", hparams, field, settings)
    plain, fused = runs[False], runs[True]
    assert [r["step"] for r in plain.history] == [r["step"] for r in fused.history] == [0, 10, 20]
    for a, b in zip(plain.history, fused.history):
        assert b["train_psnr"] == pytest.approx(a["train_psnr"], abs=0.05)
    assert fused.history[-1]["train_psnr"] > fused.history[0]["train_psnr"] + 3  # it did learn
    for p_fused, p_plain in zip(fused.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(p_fused, p_plain, rtol=1e-3, atol=1e-4)


def test_fast_forward_adds_nothing_to_the_state_dict():
    field = PixelField.from_image(smooth_image(8))
    module = INRFitModule("siren", dict(SMALL_SIREN), FitSettings(fused_sine=True).as_dict(), field)
    module._set_forward(training_forward(module.net, fused_sine=True))
    keys = list(module.state_dict())
    assert keys and all(k.startswith("net.") for k in keys)
    # A checkpoint from before carried a duplicate "_forward." copy; it still loads.
    legacy = {**module.state_dict(), **{"_forward." + k[4:]: v for k, v in module.state_dict().items()}}
    module.load_state_dict(legacy)


def test_fast_settings_are_validated():
    with pytest.raises(SirenInrError, match="compile_mode"):
        FitSettings(compile_mode="fastest").validate()
    with pytest.raises(SirenInrError, match="fused_sine"):
        training_forward(build_model("relu", in_features=2, out_features=1, hidden_features=8, hidden_layers=1),
                         fused_sine=True)


# --- process settings of a CPU fit (siren_inr/fit/cpu.py) --------------------------------------------

_ALLOCATOR_PROBE = r"""
import json, resource, sys
from siren_inr.fit.cpu import tune_allocator
applied = tune_allocator()
import torch
torch.set_num_threads(1)
base = torch.rand(16 * 1024 * 1024)  # 64 MiB: one layer's activation
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for step in range(6):  # a forward pass's pattern: two fresh activations per layer, all freed at the step's end
    acts, x = [], base
    for layer in range(4):
        x = torch.sin(x * 30.0)
        acts.append(x)
    del acts, x
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
from siren_inr.bench.plain_loop import PlainFit
torch.manual_seed(0)
sizes = {"in": 2, "out": 1, "width": 32, "hidden_layers": 2, "omega_0": 30.0, "first_omega_0": 30.0}
linears = [(torch.randn(32, 2) * 0.5, torch.randn(32) * 0.1), (torch.randn(32, 32) * 0.05, torch.randn(32) * 0.1),
           (torch.randn(32, 32) * 0.05, torch.randn(32) * 0.1), (torch.randn(1, 32) * 0.05, torch.randn(1) * 0.1)]
fit = PlainFit({"sizes": sizes, "linears": linears, "coords": torch.rand(4096, 2) * 2 - 1,
                "values": torch.rand(4096, 1) * 2 - 1, "lr": 1e-3})
losses = [fit.step()["loss"].hex() for _ in range(5)]
print(json.dumps({"applied": applied, "faults": faults, "losses": losses}))
"""


def _allocator_probe(tuned: bool) -> dict:
    import json
    import os
    import subprocess
    import sys

    from siren_inr.fit.cpu import ENV_SWITCH

    env = {**os.environ, ENV_SWITCH: "1" if tuned else "0"}
    done = subprocess.run([sys.executable, "-c", _ALLOCATOR_PROBE], capture_output=True, text=True, env=env,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_tuned_allocator_keeps_activations_mapped_and_changes_no_number():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt tuning is glibc's")
    plain, tuned = _allocator_probe(False), _allocator_probe(True)
    assert plain["applied"] == {} and set(tuned["applied"]) == {"M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD"}
    # Untuned, each of the 48 blocks of 64 MiB is a fresh mmap: 16384 4-KiB pages faulted in per block.
    # Tuned, freed blocks stay in the heap: after the first step's blocks, (almost) nothing new is faulted in.
    assert plain["faults"] > 0.9 * 48 * 16384
    assert tuned["faults"] < 16 * 16384
    assert tuned["losses"] == plain["losses"]  # bit for bit: the allocator decides where, never what


def test_threads_follow_the_size_of_the_work():
    from siren_inr.fit.cpu import ELEMENTS_PER_EXTRA_THREAD, default_threads, threads_for

    assert threads_for(16 * 16 * 8, cores=2) == 1
    assert threads_for(ELEMENTS_PER_EXTRA_THREAD - 1, cores=8) == 1
    assert threads_for(3 * ELEMENTS_PER_EXTRA_THREAD, cores=8) == 3
    assert threads_for(768 * 512 * 28, cores=2) == 2
    net = small_siren(hidden_features=256)
    assert default_threads(256 * 256, net) == threads_for(256 * 256 * 256)


def test_fit_threads_sets_and_restores_the_thread_count():
    from siren_inr.fit.cpu import default_threads, fit_threads

    net = small_siren()
    before = torch.get_num_threads()
    with fit_threads(FitSettings(accelerator="cpu"), 16, net):
        assert torch.get_num_threads() == default_threads(16, net) == 1
    assert torch.get_num_threads() == before
    with fit_threads(FitSettings(accelerator="cpu", num_threads=2), 10 ** 7, net):
        assert torch.get_num_threads() == before  # an explicit trainer.num_threads is build_trainer's to apply
