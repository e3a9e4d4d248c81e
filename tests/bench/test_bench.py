"""`siren-inr bench`: the plain loop restates the project's fit in a clean process; the numbers it reports add up."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from siren_inr.bench.cases import COIN_SHAPE, Case, resize_to, select_cases, standard_cases
from siren_inr.bench.plain_loop import PlainFit, ReferenceSiren
from siren_inr.bench.probes import MemoryProbe, linear_layers, net_layer_sizes, step_flops
from siren_inr.bench.reference import PlainLoopProcess, siren_sizes
from siren_inr.cli.bench import main
from siren_inr.cli.config import train_job
from siren_inr.errors import SirenInrError
from siren_inr.models import build_model

TINY = ["--sizes", "16", "--steps", "8", "--warmup", "1", "--overrides", "model.hidden_features=8",
        "model.hidden_layers=1", "--threads", "1"]


def _net(seed: int = 0, **sizes):
    torch.manual_seed(seed)
    return build_model("siren", **{**dict(in_features=2, out_features=3, hidden_features=16, hidden_layers=2), **sizes})


def test_reference_network_restates_the_project_siren():
    net = _net()
    weights = [(m.weight, m.bias) for m in linear_layers(net)]
    reference = ReferenceSiren(2, 3, 16, 2).load_linears(weights)
    coords = torch.rand(50, 2) * 2 - 1
    torch.testing.assert_close(reference(coords), net(coords))


def _plain_fit(points: int):
    """A 1x8 SIREN, `points` random coordinates and values, their sizes and an in-process PlainFit of them (lr 1e-3)."""
    net = _net(hidden_features=8, hidden_layers=1)
    coords, values = torch.rand(points, 2) * 2 - 1, torch.rand(points, 3) * 2 - 1
    sizes = siren_sizes({"hidden_features": 8, "hidden_layers": 1}, 3)
    fit = PlainFit({"sizes": sizes, "linears": [(m.weight.detach(), m.bias.detach()) for m in linear_layers(net)],
                    "coords": coords, "values": values, "lr": 1e-3})
    return net, coords, values, sizes, fit


def test_plain_fit_steps_like_a_hand_written_adam_loop():
    net, coords, values, _, fit = _plain_fit(40)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):
        reply = fit.step()
        loss = torch.mean((net(coords) - values) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert reply["loss"] == pytest.approx(loss.item(), rel=1e-6)
    with torch.no_grad():
        mse = torch.mean((((net(coords) + 1) / 2).clamp(0, 1) - ((values + 1) / 2).clamp(0, 1)) ** 2).item()
    assert fit.psnr()["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-4)


@pytest.mark.slow
def test_plain_process_gets_the_start_up_environment_and_torch_defaults(monkeypatch):
    # Settings this process makes at run time must not reach the plain loop; what it was started with must.
    monkeypatch.setenv("SIREN_INR_SET_AT_RUN_TIME", "1")
    fresh = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                           capture_output=True, text=True, check=True, env=_start_env())
    with PlainLoopProcess() as plain:
        info = plain.info()
    assert "SIREN_INR_SET_AT_RUN_TIME" not in info["environ"]
    assert info["environ"].get("PATH") == _start_env().get("PATH")
    assert info["threads"] == int(fresh.stdout)


def _start_env() -> dict:
    from siren_inr.bench.reference import initial_environment

    return initial_environment()


@pytest.mark.slow
def test_plain_process_fits_what_the_in_process_loop_fits():
    net, coords, values, sizes, local = _plain_fit(64)
    with PlainLoopProcess() as plain:
        plain.load(net, sizes, coords, values, 1e-3)
        for _ in range(4):
            assert plain.step()["loss"] == pytest.approx(local.step()["loss"], rel=1e-5)
        assert plain.psnr() == pytest.approx(local.psnr()["psnr"], abs=1e-3)
        assert plain.sgemm_gflops(n=256, repeats=2) > 0


def test_step_flops_match_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    net = _net(hidden_features=12, hidden_layers=3)
    coords = torch.rand(100, 2) * 2 - 1
    with FlopCounterMode(display=False) as counter:
        torch.mean(net(coords) ** 2).backward()
    assert step_flops(net_layer_sizes(net), 100) == counter.get_total_flops()
    # COIN's 10 x 28 on a Kodak image: the issue's ~17 GFLOP per step.
    coin = build_model("siren", in_features=2, out_features=3, hidden_features=28, hidden_layers=9)
    assert step_flops(net_layer_sizes(coin), 768 * 512) / 1e9 == pytest.approx(16.93, abs=0.01)


def test_memory_probe_measures_the_peak_of_live_tensors():
    probe = MemoryProbe(torch.device("cpu"))
    kept = torch.ones(1024)
    probe.start()
    first = torch.ones(4 * 1024 * 1024 // 4)  # 4 MiB
    second = torch.ones(8 * 1024 * 1024 // 4)  # 8 MiB: 12 MiB live together
    del first, second
    third = torch.ones(2 * 1024 * 1024 // 4)
    peak = probe.peak_growth_bytes()
    assert peak == 12 * 1024 * 1024
    del third, kept


def test_coin_case_is_768_by_512_rgb_and_a_portrait_image_is_turned(tmp_path):
    from PIL import Image

    coin = standard_cases()["coin"]
    image = coin.load()
    assert image.shape == (*COIN_SHAPE, 3)
    assert coin.overrides == ["model.hidden_layers=9", "model.hidden_features=28", "optim.lr=0.0002"]
    portrait = (np.random.default_rng(0).random((768, 512, 3)) * 255).astype(np.uint8)
    Image.fromarray(portrait).save(tmp_path / "portrait.png")
    turned = Case("p", str(tmp_path / "portrait.png"), *COIN_SHAPE).load()
    np.testing.assert_allclose(turned, np.transpose(portrait, (1, 0, 2)) / 255.0, atol=1e-6)
    with pytest.raises(SirenInrError, match="--cases"):
        select_cases(["coin", "siren9000"])


def test_coin_case_fits_at_coins_lr_in_both_processes():
    # The plan composes the case's overrides: COIN's lr 2e-4 reaches the project's job, and the plain loop is loaded
    # with job.fit.lr, so both sides of the comparison step Adam at it (at a constant lr).
    from siren_inr.bench.cases import COIN_LR
    from siren_inr.cli.bench import _parser, _plan

    args = _parser("siren-inr bench").parse_args(["--cases", "coin", "--steps", "4", "--warmup", "1"])
    _, plan, _, _ = _plan(args, torch.device("cpu"))
    (case, jobs), = plan
    job = jobs["default"]
    assert COIN_LR == 2e-4 and job.fit.lr == pytest.approx(COIN_LR)
    assert job.fit.lr_schedule == "none" and job.model_hparams["hidden_features"] == 28
    # a user's --overrides still come after the case's
    args = _parser("siren-inr bench").parse_args(["--cases", "coin", "--overrides", "optim.lr=1e-3"])
    assert _plan(args, torch.device("cpu"))[1][0][1]["default"].fit.lr == pytest.approx(1e-3)


@pytest.mark.slow
def test_coin_case_loads_the_plain_process_at_coins_lr(tmp_path):
    # The other process of the comparison: the plain loop is loaded with COIN's lr too (the case, shrunk to 16 x 24).
    import dataclasses
    import inspect

    from siren_inr.bench.cases import COIN_LR
    from siren_inr.bench.suite import bench_case
    from siren_inr.cli.bench import _parser, _plan

    args = _parser("siren-inr bench").parse_args(["--cases", "coin", "--steps", "4", "--warmup", "1", "--no-memory"])
    options, ((case, jobs),), _, _ = _plan(args, torch.device("cpu"))
    loaded = []

    class RecordingPlain(PlainLoopProcess):
        def load(self, *args, **kwargs):
            loaded.append(inspect.signature(PlainLoopProcess.load).bind(self, *args, **kwargs).arguments["lr"])
            return super().load(*args, **kwargs)

    with RecordingPlain() as plain:
        results = bench_case(dataclasses.replace(case, height=16, width=24), jobs, options, plain,
                             torch.device("cpu"), tmp_path)
    assert results and loaded
    assert loaded == [pytest.approx(COIN_LR)] * len(loaded)


def test_resize_to_keeps_a_constant_image_and_averages_a_checkerboard():
    constant = np.full((40, 60, 3), 0.25, dtype=np.float32)
    np.testing.assert_allclose(resize_to(constant, 20, 30), 0.25, atol=1e-6)
    board = (np.indices((40, 60)).sum(0) % 2).astype(np.float32)[..., None]
    # Antialiased 2x: each output pixel away from the border averages a symmetric window of the board.
    np.testing.assert_allclose(resize_to(board, 20, 30)[1:-1, 1:-1], 0.5, atol=1e-6)


@pytest.mark.slow
def test_bench_prints_table_and_variants_agree(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(TINY + ["--variants", "reference,default", "--no-memory", "--json", str(out)], prog="siren-inr bench")
    assert code == 0
    printed = capsys.readouterr().out
    assert "(a) plain loop, own process" in printed and "(b) siren-inr train default" in printed
    assert "machine:" in printed and "sgemm" in printed
    report = json.loads(out.read_text())
    rows = {r["variant"]: r for r in report["results"]}
    ref, default = rows["reference"], rows["default"]
    # Same init, same optimizer, same math in two processes: the PSNR curves agree at the logged steps.
    assert set(ref["psnr_db"]) == set(default["psnr_db"]) and {"0", "8"} <= set(ref["psnr_db"])
    for step in ref["psnr_db"]:
        assert default["psnr_db"][step] == pytest.approx(ref["psnr_db"][step], abs=1e-3)
    assert ref["psnr_db"]["8"] != ref["psnr_db"]["0"]
    assert default["ms_steps"] == 8 - 1 - 1  # 7 host intervals, the first left out
    assert default["ratio_median"] == pytest.approx(default["ms_median"] / default["reference_ms_median"])
    assert np.all(np.asarray(default["raw_ms"]) > 0)
    # GFLOP/s is the step's matmul arithmetic over the median step; its fraction is of the best sgemm measured.
    net = build_model("siren", in_features=2, out_features=1, hidden_features=8, hidden_layers=1)
    flops = step_flops(net_layer_sizes(net), 16 * 16)
    assert default["gflops"] == pytest.approx(flops / (default["ms_median"] / 1e3) / 1e9)
    assert default["sgemm_fraction"] == pytest.approx(default["gflops"] / max(report["sgemm_gflops"]))


@pytest.mark.parametrize("args, needle", [
    (["--variants", "reference,turbo"], "--variants"),
    (["--steps", "3", "--warmup", "5"], "--warmup"),
    (["--device", "tpu"], "--device"),
    (["--cases", "coin,nope"], "--cases"),
    (["--threads", "0"], "--threads"),
])
def test_bench_bad_arguments_are_one_line_errors(args, needle, capsys):
    argv = (["--sizes", "16"] if "--cases" not in args else []) + args
    assert main(argv, prog="siren-inr bench") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0]


def test_presets_compose_into_valid_settings():
    fast = train_job(["trainer=fast"]).fit.validate()
    assert fast.compile and fast.matmul_precision == "high" and fast.precision == "32-true"
    default = train_job([]).fit.validate()
    assert not default.compile and not default.fused_sine and default.compile_mode == "default"
    reference = train_job(["+experiment=reference"]).fit.validate()
    assert (reference.lr, reference.lr_schedule, reference.num_epochs) == (1e-4, "none", 500)
