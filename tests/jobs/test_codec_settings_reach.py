"""conf/inr_codec/coin.yaml reaches the commands that fit coin's network (compress, rd): every setting, one at a
time, changes the file; the yaml's setting and the command's own (num_epochs, model.*, qat_*) are one setting; with
the defaults, compress runs exactly the job it always ran (coin's files: version 1, byte for byte)."""

import numpy as np
import pytest
from PIL import Image

from siren_inr.cli.codec import compress_job_from
from siren_inr.cli.config import compose
from siren_inr.compression import container
from siren_inr.errors import SirenInrError
from siren_inr.jobs.compress import run_compress_job, with_codec_settings

# A tiny fit with a noisy QAT (lr 1e-1) so that which of its evaluations is kept shows in the file.
BASE = ["track=false", "trainer=cpu", "model.hidden_layers=1", "model.hidden_features=6", "num_epochs=6",
        "qat_steps=6", "qat_lr=1e-1", "qat_eval_every=3", "coder=zlib"]
COIN_CHANGES = [
    ("hidden_features", 7), ("hidden_layers", 2), ("first_omega_0", 20.0), ("hidden_omega_0", 20.0), ("steps", 7),
    ("lr", 1e-3), ("lr_schedule", "cosine"), ("quant.mode", "fp16"), ("quant.bits", 6), ("quant.per_channel", True),
    ("quant.sensitive_bits", 10), ("coder", "lzma"), ("qat.steps", 4), ("qat.lr", 3e-2), ("qat.eval_every", 1),
    ("seed", 1),
]  # (the base's QAT keeps its step-0 weights at its evaluations 3 and 6; its step 4 is better, which qat.steps=4
#     and qat.eval_every=1 find)
# Settings of the yaml that cannot change a coin file, and why: they are refused unless at their one value.
FIXED = {
    "num_frequencies": ("4", "num_frequencies must be null"),  # coin feeds the raw coordinates
    "l1": ("0.1", "no L1 penalty"),  # the command's fit (the train job's) has no weight penalty
}


def _group_settings(name):
    """Every setting of the composed `inr_codec=NAME` group, nested ones dotted."""
    from omegaconf import OmegaConf

    group = OmegaConf.to_container(compose([f"inr_codec={name}"], "compress"))["inr_codec"]
    group.pop("name")
    return {f"{key}.{inner}" if isinstance(value, dict) else key for key, value in group.items()
            for inner in (value if isinstance(value, dict) else [None])}


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coin")
    y, x = np.mgrid[0:10, 0:12]
    Image.fromarray(np.stack([x * 20, y * 25, (x + y) * 11], -1).astype(np.uint8)).save(folder / "img.png")
    return folder / "img.png"


def _compress(picture, out, overrides):
    job = compress_job_from(str(picture), str(out), compose(BASE + overrides, "compress"))
    run_compress_job(job)
    return out.read_bytes()


def test_with_the_defaults_compress_runs_the_job_it_always_ran(picture, tmp_path):
    job = compress_job_from(str(picture), str(tmp_path / "a.inr"), compose(["track=false"], "compress"))
    assert with_codec_settings(job) is job  # coin's group states the command's settings: nothing to write over
    changed = compress_job_from(str(picture), str(tmp_path / "a.inr"),
                                compose(["track=false", "inr_codec.hidden_layers=1", "inr_codec.steps=1"], "compress"))
    coin = with_codec_settings(changed)
    assert coin.model_hparams["hidden_layers"] == 1 and coin.fit.num_epochs == 1
    assert coin.config["model"]["hidden_layers"] == 1 and coin.config["num_epochs"] == 1  # what the run records


@pytest.mark.slow
def test_every_coin_setting_of_its_yaml_reaches_the_compress_file(picture, tmp_path):
    assert _group_settings("coin") == {key for key, _ in COIN_CHANGES} | set(FIXED)
    base = _compress(picture, tmp_path / "base.inr", [])
    assert container.unpack(base).version == 1 and container.unpack(base).codec == "coin"
    for index, (key, value) in enumerate(COIN_CHANGES):
        data = _compress(picture, tmp_path / f"{index}.inr", [f"inr_codec.{key}={value}"])
        assert data != base, f"coin {key}={value!r} left the file unchanged"
        assert container.unpack(data).version == 1
    for key, (value, message) in FIXED.items():
        with pytest.raises(SirenInrError, match=message):
            _compress(picture, tmp_path / f"{key}.inr", [f"inr_codec.{key}={value}"])
    # The yaml's setting and the command's own are one setting: the same file either way.
    for yaml_key, command_key, value in (("steps", "num_epochs", 7), ("hidden_layers", "model.hidden_layers", 2),
                                         ("qat.steps", "qat_steps", 3)):
        assert (_compress(picture, tmp_path / f"y_{yaml_key}.inr", [f"inr_codec.{yaml_key}={value}"])
                == _compress(picture, tmp_path / f"c_{yaml_key}.inr", [f"{command_key}={value}"]))


def test_coin_yaml_reaches_the_rd_study(picture, tmp_path):
    from siren_inr.cli.rd import settings_from
    from siren_inr.jobs.rd_points import INR_POINTS, with_fitted_codec_settings

    common = [f"data.folder={picture.parent}", f"output_dir={tmp_path / 'rd'}", "ladder=[[1,6]]", "num_epochs=6",
              "qat_steps=2", "trainer=cpu", "codecs=[jpeg]", "track=false"]
    plain = settings_from(compose(common, "rd"))
    chosen = settings_from(compose(common + ["inr_codec=coin", "inr_codec.steps=4", "inr_codec.qat.steps=0",
                                             "inr_codec.seed=3", "inr_codec.quant.bits=6"], "rd"))
    assert chosen.inr_codecs == ["coin"] and chosen.inr_settings["coin"]["steps"] == 4
    study = with_fitted_codec_settings(chosen, "coin")
    assert (study.fit.num_epochs, study.qat.steps, study.seed, study.quant.bits) == (4, 0, 3, 6)
    assert with_fitted_codec_settings(plain, "coin") is plain
    # The ladder keeps setting the network sizes (what coin's ladder varies), whatever the group's model says.
    assert study.ladder == [(1, 6)] and "hidden_layers" not in study.model_hparams
    image = np.asarray(Image.open(picture), dtype=np.float32) / 255
    files = []
    for index, settings in enumerate((plain, chosen)):
        folder = tmp_path / f"inr{index}"
        folder.mkdir()
        rows = INR_POINTS["coin"]([picture.name], [image], settings, folder)
        assert [row["codec"] for row in rows] == ["coin"]
        files.append((folder / "img_1x6.inr").read_bytes())
    assert files[0] != files[1]
    with pytest.raises(SirenInrError, match="no L1 penalty"):
        settings_from(compose(common + ["inr_codec=coin", "inr_codec.l1=0.5"], "rd"))
