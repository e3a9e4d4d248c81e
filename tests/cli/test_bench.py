"""`siren-inr bench`: one command prints the table; the three variants do the same math."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from siren_inr.cli.bench import MemoryProbe, ReferenceSiren, main
from siren_inr.models import build_model

TINY = ["--sizes", "16", "--steps", "8", "--warmup", "1", "--overrides", "model.hidden_features=8",
        "model.hidden_layers=1", "--threads", "1"]


def test_reference_network_restates_the_project_siren():
    torch.manual_seed(0)
    net = build_model("siren", in_features=2, out_features=3, hidden_features=16, hidden_layers=2)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    reference = ReferenceSiren(2, 3, 16, 2).load_linears(linears)
    coords = torch.rand(50, 2) * 2 - 1
    torch.testing.assert_close(reference(coords), net(coords))


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


def test_bench_prints_table_and_variants_agree(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(TINY + ["--variants", "reference,default", "--no-memory", "--json", str(out)], prog="siren-inr bench")
    assert code == 0
    printed = capsys.readouterr().out
    assert "(a) reference loop" in printed and "(b) siren-inr train default" in printed and "machine:" in printed
    report = json.loads(out.read_text())
    rows = {r["variant"]: r for r in report["results"]}
    ref, default = rows["reference"], rows["default"]
    # Same init, same optimizer, same math: the PSNR curves agree (steps 0 and 8 are logged by both).
    assert set(ref["psnr_db"]) == set(default["psnr_db"]) == {"0", "8"}
    for step in ("0", "8"):
        assert default["psnr_db"][step] == pytest.approx(ref["psnr_db"][step], abs=1e-3)
    assert ref["psnr_db"]["8"] != ref["psnr_db"]["0"]
    # Timings are positive and the ratio is the quotient of the two medians.
    assert default["ms_steps"] == 8 - 1 - 1  # 7 host intervals, the first left out
    assert default["ratio_median"] == pytest.approx(default["ms_median"] / default["reference_ms_median"])
    assert np.all(np.asarray(default["raw_ms"]) > 0)


@pytest.mark.parametrize("args, needle", [
    (["--variants", "reference,turbo"], "--variants"),
    (["--steps", "3", "--warmup", "5"], "--warmup"),
    (["--device", "tpu"], "--device"),
])
def test_bench_bad_arguments_are_one_line_errors(args, needle, capsys):
    assert main(["--sizes", "16"] + args, prog="siren-inr bench") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0]


def test_presets_compose_into_valid_settings():
    from siren_inr.cli.bench import compose_job

    fast = compose_job(["trainer=fast"]).fit.validate()
    assert fast.compile and fast.matmul_precision == "high" and fast.precision == "32-true"
    default = compose_job([]).fit.validate()
    assert not default.compile and not default.fused_sine and default.compile_mode == "default"
    schedule = compose_job(["+experiment=fast_fit"]).fit.validate()
    assert schedule.lr > default.lr and schedule.lr_schedule != "none"
    assert schedule.num_epochs < 1050  # fewer steps than the reference needs for 40 dB at 256²
