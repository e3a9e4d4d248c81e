"""`siren-inr rd` on a folder of two tiny images, tracked in a SQLite MLflow store in tmp_path."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from siren_inr.cli.rd import main as rd_main
from testkit import smooth_image


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("rdimages")
    for seed in (0, 1):
        Image.fromarray((smooth_image(24, channels=3, seed=seed) * 255).round().astype(np.uint8)).save(
            path / f"p{seed}.png")
    return path


@pytest.mark.slow
def test_rd_cli_tracks_a_parent_and_a_child_per_image_and_point(folder, tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    argv = [f"data.folder={folder}", "ladder=[[1,8],[2,12]]", "num_epochs=30", "optim.lr=1e-3", "trainer=cpu",
            "qat_steps=5", "codecs=[jpeg,avif]", f"output_dir={tmp_path / 'rep'}", f"tracking.uri={uri}",
            "experiment_name=rdtest", f"reference_dir={tmp_path / 'refs'}"]
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "coin.json").write_text('{"name": "COIN", "results": {"bpp": [0.3, 0.6], "psnr": [26, 28]}}')
    assert rd_main(argv) == 0
    out = capsys.readouterr().out
    assert "report:" in out and "coin vs jpeg: BD-rate" in out and "coin 2x12:" in out and "nan" not in out
    table = pd.read_csv(tmp_path / "rep" / "table.csv")
    assert (table["codec"] == "coin").sum() == 2 * 2 and {"jpeg", "avif"} <= set(table["codec"])
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("rdtest")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert all(r.info.status == "FINISHED" for r in runs)
    assert parent.data.params["ladder"] == "1x8 2x12" and parent.data.params["quant.bits"] == "8"
    # The children's metrics are the table's numbers.
    for child in children:
        row = table[(table["image"] == child.data.params["image"]) & (table["point"] == child.data.params["point"])
                    & (table["codec"] == "coin")].iloc[0]
        assert child.data.metrics["inr/psnr_db"] == pytest.approx(row["psnr_db"])
        assert child.data.metrics["inr/bpp"] == pytest.approx(row["bpp"])
        if not np.isnan(row["jpeg_psnr_db_at_rate"]):
            assert child.data.metrics["jpeg/psnr_db"] == pytest.approx(row["jpeg_psnr_db_at_rate"])
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "compression")}
    assert {"compression/report.md", "compression/table.csv", "compression/plots"} <= names
    # Tiny non-Kodak images: the published Kodak curves are not drawn, and the report says why.
    assert "this study's images are not full Kodak images" in (tmp_path / "rep" / "report.md").read_text()


def test_rd_cli_errors_are_one_line(tmp_path, capsys, folder):
    assert rd_main(["num_epochs=5"]) == 2
    assert "missing setting data.folder" in capsys.readouterr().err
    assert rd_main([f"data.folder={tmp_path / 'nope'}", "track=false"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not a folder" in err
    assert rd_main([f"data.folder={folder}", "ladder=[[0,8]]", "track=false"]) == 2
    assert "ladder" in capsys.readouterr().err
    store = tmp_path / "store"
    assert rd_main([f"data.folder={folder}", "experiment_name=", f"tracking.uri=sqlite:///{store / 'm.db'}"]) == 2
    assert "experiment_name=''" in capsys.readouterr().err and not store.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    report = tmp_path / "report"
    assert rd_main([f"data.folder={empty}", f"tracking.uri=sqlite:///{store / 'm.db'}", f"output_dir={report}"]) == 2
    assert "holds no images" in capsys.readouterr().err and not store.exists() and not report.exists()
    assert rd_main([f"data.folder={folder}", "track=maybe"]) == 2
    assert "'maybe' is not a valid bool (type str); full_key: track" in capsys.readouterr().err
    assert rd_main([f"data.folder={folder}", "track=false", "codecs=[jpeg,bpg]"]) == 2
    assert "codec 'bpg' is not known" in capsys.readouterr().err
    assert rd_main([f"data.folder={folder}", "track=false", "batch_memory_mb=0"]) == 2
    assert "batch_memory_mb=0" in capsys.readouterr().err


def test_rd_cpu_experiment_and_the_inr_codec_group(folder):
    from siren_inr.cli.config import compose
    from siren_inr.cli.rd import settings_from

    settings = settings_from(compose(["+experiment=rd_cpu", f"data.folder={folder}"], "rd"))
    assert settings.inr_codecs == ["coin", "siren_pe", "latent"] and settings.crop == 256
    assert settings.inr_settings["latent"]["train"]["steps"] > settings.fit.num_epochs
    assert [p["train"]["lam"] for p in settings.inr_ladders["latent"]] == sorted(
        (p["train"]["lam"] for p in settings.inr_ladders["latent"]), reverse=True)
    # inr_codec=NAME puts conf/inr_codec/NAME.yaml (with inr_codec.* overrides) in the study; NAME joins inr_codecs.
    settings = settings_from(compose([f"data.folder={folder}", "inr_codec=latent", "inr_codec.preset=mop",
                                      "inr_codec.train.steps=7"], "rd"))
    assert settings.inr_codecs == ["coin", "latent"]
    assert settings.inr_settings["latent"]["preset"] == "mop" and settings.inr_settings["latent"]["train"]["steps"] == 7
    assert settings.inr_settings["latent"]["levels"] == 7  # the rest of the group's file


def test_rd_per_codec_setting_errors_are_one_line(folder, capsys):
    # a setting the codec no longer has
    assert rd_main([f"data.folder={folder}", "track=false", "inr_settings={latent: {refine: 0}}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "inr_settings.latent" in err and "\n" not in err
    assert rd_main([f"data.folder={folder}", "track=false", "inr_codec=latent", "inr_codec.train.steps=0"]) == 2
    assert "latent train.steps=0" in capsys.readouterr().err
    for bad in ("inr_settings=3", "inr_ladders=[1,2]"):
        assert rd_main([f"data.folder={folder}", "track=false", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and bad.split("=")[0] in err and "\n" not in err
