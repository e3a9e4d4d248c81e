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
from testkit import smooth_image

SMALL = dict(in_features=2, out_features=1, hidden_features=16, hidden_layers=2)


def _siren(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model("siren", **{**SMALL, **overrides})


def _coords(n: int = 300, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)) * 2 - 1


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
    net = _siren(outermost_linear=outermost_linear)
    coords, target = _coords(), torch.rand(300, 1) * 2 - 1
    out_ref, grads_ref = _grads(net, net, coords, target)
    out_fused, grads_fused = _grads(training_forward(net, fused_sine=True), net, coords, target)
    # fp32 sines of arguments up to ~50 round at ~4e-6; the tolerances sit just above that.
    torch.testing.assert_close(out_fused, out_ref, rtol=1e-4, atol=2e-5)
    for g_fused, g_ref in zip(grads_fused, grads_ref):
        torch.testing.assert_close(g_fused, g_ref, rtol=1e-3, atol=1e-4)


def test_compiled_forward_same_outputs_and_gradients():
    # trainer=fast compiles the training forward; on CPU inductor emits C++ (the one slow test here).
    net = _siren(hidden_features=8, hidden_layers=1)
    coords, target = _coords(64), torch.rand(64, 1) * 2 - 1
    out_ref, grads_ref = _grads(net, net, coords, target)
    out_c, grads_c = _grads(training_forward(net, compile=True), net, coords, target)
    torch.testing.assert_close(out_c, out_ref, rtol=1e-4, atol=2e-5)
    for g_c, g_ref in zip(grads_c, grads_ref):
        torch.testing.assert_close(g_c, g_ref, rtol=1e-3, atol=1e-4)


def test_fused_fit_tracks_default_fit():
    field = PixelField.from_image(smooth_image(16))
    hparams = {k: v for k, v in SMALL.items()}
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
    module = INRFitModule("siren", dict(SMALL), FitSettings(fused_sine=True).as_dict(), field)
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
