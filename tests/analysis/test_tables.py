"""Settings that differ, the ranked comparison table and the mean ± std over seeds."""

from __future__ import annotations

import statistics

import pandas as pd
import pytest

from siren_inr.analysis.records import differing_settings, run_label, short_setting_names
from siren_inr.analysis.tables import comparison_markdown, comparison_table, grouped_markdown, grouped_table


def test_differing_settings_order_and_ignored_keys(zoo_records, record_factory):
    # tracking.uri differs per run but says where a run was stored, not what was fitted.
    assert differing_settings(zoo_records) == ["model.name", "seed"]
    assert differing_settings(zoo_records[:1]) == []
    extra = zoo_records + [record_factory("siren", 0, 4.0, **{"model.hidden_features": "64"})]
    assert differing_settings(extra) == ["model.name", "model.hidden_features", "seed"]
    names = short_setting_names(["model.name", "seed", "model.hidden_features", "data.hidden_features"])
    assert names == {"model.name": "model", "seed": "seed", "model.hidden_features": "model.hidden_features",
                     "data.hidden_features": "data.hidden_features"}
    assert run_label(zoo_records[4], ["model.name", "seed"]) == "model=relu seed=1"


def test_comparison_table_ranked_by_psnr(zoo_records):
    keys = differing_settings(zoo_records)
    table = comparison_table(zoo_records, keys)
    expected = sorted((r.final_metrics["final/psnr"], r.run_id) for r in zoo_records)[::-1]
    assert table["run_id"].tolist() == [rid for _, rid in expected]
    assert table["rank"].tolist() == list(range(1, 7))
    assert table["psnr_db"].is_monotonic_decreasing
    assert table.loc[0, "model.name"] == "siren"
    by_id = {r.run_id: r for r in zoo_records}
    for _, row in table.iterrows():
        assert row["wall_seconds"] == pytest.approx(by_id[row["run_id"]].wall_seconds)
        assert row["ssim"] == by_id[row["run_id"]].final_metrics["final/ssim"]
    markdown = comparison_markdown(table, keys).splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown]
    assert cells[0][:5] == ["rank", "run", "model", "seed", "PSNR (dB)"]
    assert len(markdown) == 2 + len(zoo_records)
    for row, (_, expected_row) in zip(cells[2:], table.iterrows()):  # the rows in rank order, PSNR to 2 places
        assert row[0] == str(expected_row["rank"]) and row[4] == f"{expected_row['psnr_db']:.2f}"


def test_grouped_table_mean_and_sample_std(zoo_records):
    keys = differing_settings(zoo_records)
    grouped = grouped_table(zoo_records, keys)
    assert grouped["model.name"].tolist() == ["siren", "relu"]
    for _, row in grouped.iterrows():
        psnrs = [r.final_metrics["final/psnr"] for r in zoo_records if r.params["model.name"] == row["model.name"]]
        assert row["runs"] == 3 and row["seeds"] == "0,1,2"
        assert row["psnr_db_mean"] == pytest.approx(statistics.mean(psnrs))
        assert row["psnr_db_std"] == pytest.approx(statistics.stdev(psnrs))
        assert row["wall_seconds_mean"] == pytest.approx(3.0)
    md = grouped_markdown(grouped, keys)
    mean, std = grouped.loc[0, "psnr_db_mean"], grouped.loc[0, "psnr_db_std"]
    assert f"{mean:.2f} ± {std:.2f}" in md


def test_no_grouped_table_without_repeats(zoo_records):
    single_seed = [r for r in zoo_records if r.params["seed"] == "0"]
    assert grouped_table(single_seed, differing_settings(single_seed)) is None


def test_comparison_csv_round_trip(tmp_path, zoo_records):
    from siren_inr.analysis.tables import write_table

    keys = differing_settings(zoo_records)
    table = comparison_table(zoo_records, keys)
    write_table(table, comparison_markdown(table, keys), tmp_path / "c.csv", tmp_path / "c.md")
    back = pd.read_csv(tmp_path / "c.csv")
    assert back["run_id"].tolist() == table["run_id"].tolist()
    assert back["psnr_db"].tolist() == pytest.approx(table["psnr_db"].tolist(), rel=1e-12)


def test_family_specific_settings_follow_from_the_model(zoo_records):
    for record in zoo_records:
        if record.params["model.name"] == "siren":
            record.params.update({"model.first_omega_0": "30.0", "model.hidden_features": "64"})
        else:
            record.params["model.hidden_features"] = "64" if record.params["seed"] != "2" else "32"
    # first_omega_0 only exists for siren, so model.name already says it; hidden_features differs on its own.
    assert differing_settings(zoo_records) == ["model.name", "model.hidden_features", "seed"]
    zoo_records[0].params["model.first_omega_0"] = "60.0"
    assert "model.first_omega_0" in differing_settings(zoo_records)
