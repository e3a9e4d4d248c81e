"""The tiled CPU step computes autograd's loss and gradients, and the same bits on every rerun."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from siren_inr.models import build_model
from siren_inr.fit.tiled import (TiledSirenStep, network_inputs, supports_tiled, tile_rows, tiled_mse,
                                    tiled_step_for)


def _net(name: str = "siren", seed: int = 0, dtype=torch.float64, **overrides):
    torch.manual_seed(seed)
    hparams = {"in_features": 2, "out_features": 3, "hidden_features": 12, "hidden_layers": 3, **overrides}
    return build_model(name, **hparams).to(dtype)


def _data(n: int, channels: int = 3, dtype=torch.float64, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    coords = (torch.rand(n, 2, generator=gen) * 2 - 1).to(dtype)
    return coords, (torch.rand(n, channels, generator=gen) * 2 - 1).to(dtype)


def _autograd(net, coords, values):
    net.zero_grad(set_to_none=True)
    loss = torch.mean((net(coords) - values) ** 2)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in net.parameters()]


def _tiled(net, coords, values, **engine_args):
    net.zero_grad(set_to_none=True)
    engine = TiledSirenStep(net, **engine_args)
    output = torch.empty_like(values)
    loss = tiled_mse(engine, network_inputs(net, coords), values, output=output)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in net.parameters()], output


@pytest.mark.parametrize("name, overrides", [
    ("siren", {}),
    ("siren", {"outermost_linear": False}),
    ("siren", {"first_omega_0": 10.0, "hidden_omega_0": 25.0}),
    ("siren_pe", {"num_frequencies": 3}),
])
@pytest.mark.parametrize("workers, rows", [(1, None), (2, 64), (3, 100)])
def test_same_loss_gradients_and_output_as_autograd_in_float64(name, overrides, workers, rows):
    net = _net(name, **overrides)
    coords, values = _data(777)  # not a multiple of any tile size: a short last tile
    loss_ref, grads_ref = _autograd(net, coords, values)
    loss, grads, output = _tiled(net, coords, values, workers=workers, rows=rows)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-12, atol=1e-14)
    assert [g.shape for g in grads] == [g.shape for g in grads_ref]
    for grad, ref in zip(grads, grads_ref):
        torch.testing.assert_close(grad, ref, rtol=1e-10, atol=1e-13)
    with torch.no_grad():
        torch.testing.assert_close(output, net(coords), rtol=1e-12, atol=1e-13)


def test_float32_coin_shape_within_float_rounding():
    # COIN's 10 x 28 body on an RGB field: narrow, deep, omega 30: the case the tiled step is for.
    net = _net(dtype=torch.float32, hidden_features=28, hidden_layers=9)
    coords, values = _data(5000, dtype=torch.float32)
    loss_ref, grads_ref = _autograd(net, coords, values)
    loss, grads, _ = _tiled(net, coords, values, workers=2, rows=512)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-5, atol=1e-7)
    for grad, ref in zip(grads, grads_ref):
        assert ((grad - ref).abs().max() / ref.abs().max()).item() < 1e-4


def test_reruns_are_bit_identical_and_threads_are_restored():
    net = _net(dtype=torch.float32, hidden_features=16)
    coords, values = _data(3000, dtype=torch.float32)
    threads = torch.get_num_threads()
    runs = [_tiled(net, coords, values, workers=2, rows=256) for _ in range(3)]
    assert torch.get_num_threads() == threads
    for loss, grads, output in runs[1:]:
        assert torch.equal(loss, runs[0][0]) and torch.equal(output, runs[0][2])
        assert all(torch.equal(a, b) for a, b in zip(grads, runs[0][1]))


def test_params_stand_in_for_the_weights_and_receive_the_gradients():
    net = _net()
    coords, values = _data(200)
    engine = TiledSirenStep(net, rows=50)
    stand_ins = [(p.detach() * 0.9).requires_grad_() for p in engine.parameters]
    tiled_mse(engine, coords, values, params=stand_ins).backward()
    scaled = copy.deepcopy(net)
    with torch.no_grad():
        for p in scaled.parameters():
            p.mul_(0.9)
    loss_ref, grads_ref = _autograd(scaled, coords, values)
    assert all(p.grad is None for p in net.parameters())  # the network's own weights got nothing
    for stand_in, ref in zip(stand_ins, grads_ref):
        torch.testing.assert_close(stand_in.grad, ref, rtol=1e-10, atol=1e-13)


def test_the_optimizer_sees_updated_weights_at_every_call():
    net = _net()
    coords, values = _data(300)
    engine = TiledSirenStep(net, workers=2, rows=64)
    twin = copy.deepcopy(net)
    opt, opt_twin = torch.optim.Adam(net.parameters(), 1e-3), torch.optim.Adam(twin.parameters(), 1e-3)
    for _ in range(5):
        opt.zero_grad()
        tiled_mse(engine, coords, values).backward()
        opt.step()
        opt_twin.zero_grad()
        torch.mean((twin(coords) - values) ** 2).backward()
        opt_twin.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_which_networks_it_runs():
    assert supports_tiled(_net("siren")) and supports_tiled(_net("siren_pe", num_frequencies=2))
    assert not supports_tiled(_net("relu")) and not supports_tiled(_net("fourier"))
    assert tiled_step_for(_net("relu", dtype=torch.float32), torch.zeros(4, 2)) is None
    assert tiled_step_for(_net(dtype=torch.float64), torch.zeros(4, 2)) is None  # fp32 only
    assert isinstance(tiled_step_for(_net(dtype=torch.float32), torch.zeros(4, 2)), TiledSirenStep)
    with pytest.raises(ValueError, match="SIREN"):
        TiledSirenStep(_net("relu"))


def test_bad_shapes_are_refused_naming_them():
    engine = TiledSirenStep(_net())
    coords, values = _data(10)
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        engine.run(torch.zeros(10, 3, dtype=torch.float64), values, 1.0)
    with pytest.raises(ValueError, match=r"\(10, 3\)"):
        engine.run(coords, values[:, :1], 1.0)
    with pytest.raises(ValueError, match="no pixels"):
        engine.run(coords[:0], values[:0], 1.0)


def test_copies_start_without_threads_and_compute_the_same():
    net = _net()
    coords, values = _data(500)
    engine = TiledSirenStep(net, workers=2, rows=64)
    first, _ = engine.run(coords, values, 1.0)
    for clone in (copy.deepcopy(engine), pickle.loads(pickle.dumps(engine))):
        again, _ = clone.run(coords, values, 1.0)
        assert torch.equal(again, first)
    engine.close()


def test_tile_rows_follow_the_width():
    assert tile_rows(28) * 28 <= 1 << 18 < (tile_rows(28) + 64) * 28
    assert tile_rows(256) == 1024 and tile_rows(10 ** 6) == 256


@pytest.mark.parametrize("outermost_linear", [True, False])
@pytest.mark.parametrize("width", [12, 16])  # the folded-bias kernel and the other one
def test_scripted_tile_kernels_compute_what_their_python_sources_compute(monkeypatch, outermost_linear, width):
    # The workers run `_run_tiles` / `_run_tiles_folded` compiled by TorchScript (no GIL across the loop); the plain
    # Python source, the fallback where TorchScript is missing, must give the same bits.
    from siren_inr.fit import tiled

    net = _net(dtype=torch.float32, hidden_features=width, outermost_linear=outermost_linear)
    folded = TiledSirenStep(net).folded
    assert folded == (width % tiled.FOLD_UNLESS_MULTIPLE_OF != 0)
    kernel = tiled._tile_kernel(folded)
    assert isinstance(kernel, torch.jit.ScriptFunction)  # this torch scripts it: the tests run the scripted path
    coords, values = _data(1000, dtype=torch.float32)
    for _ in range(4):  # past TorchScript's profiling runs: the optimized graph must give the same bits too
        scripted = _tiled(net, coords, values, workers=2, rows=128)
    monkeypatch.setitem(tiled._KERNELS, folded, tiled._run_tiles_folded if folded else tiled._run_tiles)
    plain = _tiled(net, coords, values, workers=2, rows=128)
    assert torch.equal(scripted[0], plain[0]) and torch.equal(scripted[2], plain[2])
    assert all(torch.equal(a, b) for a, b in zip(scripted[1], plain[1]))


@pytest.mark.parametrize("outermost_linear", [True, False])
def test_the_wide_kernel_matches_autograd_in_float64(outermost_linear):
    # 32 wide, whole 16-float vectors: the bias as addmm's input; the 12-wide nets above took the folded kernel.
    net = _net(hidden_features=32, hidden_layers=2, outermost_linear=outermost_linear)
    assert not TiledSirenStep(net).folded
    coords, values = _data(777)
    loss_ref, grads_ref = _autograd(net, coords, values)
    loss, grads, output = _tiled(net, coords, values, workers=2, rows=100)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-12, atol=1e-14)
    for grad, ref in zip(grads, grads_ref):
        torch.testing.assert_close(grad, ref, rtol=1e-10, atol=1e-13)
    with torch.no_grad():
        torch.testing.assert_close(output, net(coords), rtol=1e-12, atol=1e-13)
