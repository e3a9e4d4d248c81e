"""Registry: listing, error messages, model_spec round trips."""

from __future__ import annotations

import pytest
import torch

from siren_inr.errors import SirenInrError
from siren_inr.models import build_model, list_models, model_spec, register_model
from siren_inr.models.registry import accepted_hparams


def test_list_models_has_exactly_the_eight_families():
    assert list_models() == sorted(["siren", "relu", "tanh", "nerf", "rbf", "mixed", "fourier", "siren_pe",
                                    "finer", "wire", "gauss", "hash_grid"])


def test_small_test_settings_name_only_registered_families(small_settings):
    assert set(small_settings) <= set(list_models())


def test_unknown_name_lists_accepted():
    with pytest.raises(SirenInrError) as err:
        build_model("resnet")
    msg = str(err.value)
    assert "'resnet'" in msg
    for name in list_models():
        assert name in msg


def test_unknown_hparam_names_it_and_the_accepted_ones():
    with pytest.raises(SirenInrError) as err:
        build_model("siren", hidden_feature=64)
    msg = str(err.value)
    assert "hidden_feature" in msg
    for accepted in accepted_hparams("siren"):
        assert accepted in msg
    assert "first_omega_0" in msg


@pytest.mark.parametrize(
    "name, bad, needle",
    [
        ("siren", {"hidden_features": 0}, "hidden_features"),
        ("relu", {"hidden_layers": -1}, "hidden_layers"),
        ("tanh", {"out_features": None}, "out_features"),
        ("siren", {"hidden_features": 2.5}, "hidden_features"),
        ("siren", {"hidden_layers": True}, "hidden_layers"),
        ("siren", {"first_omega_0": 0.0}, "first_omega_0"),
        ("siren", {"hidden_omega_0": float("nan")}, "hidden_omega_0"),
        ("siren", {"outermost_linear": "yes"}, "outermost_linear"),
        ("nerf", {}, "num_frequencies"),
        ("nerf", {"num_frequencies": -1}, "num_frequencies"),
        ("nerf", {"sidelength": 0}, "sidelength"),
        ("rbf", {"num_centres": 0}, "num_centres"),
        ("rbf", {"rbf_sigma": -1.0}, "rbf_sigma"),
        ("fourier", {"mapping_size": 0}, "mapping_size"),
        ("fourier", {"fourier_scale": "big"}, "fourier_scale"),
        ("mixed", {"in_features": 0}, "in_features"),
        ("finer", {"first_bias_scale": 0.0}, "first_bias_scale"),
        ("finer", {"hidden_omega_0": -30.0}, "hidden_omega_0"),
        ("wire", {"scale_0": float("inf")}, "scale_0"),
        ("wire", {"first_omega_0": "20"}, "first_omega_0"),
        ("gauss", {"sigma": 0}, "sigma"),
        ("hash_grid", {"num_levels": 0}, "num_levels"),
        ("hash_grid", {"features_per_level": 1.5}, "features_per_level"),
        ("hash_grid", {"log2_table_size": 25}, "log2_table_size"),
        ("hash_grid", {"base_resolution": 64, "finest_resolution": 32}, "finest_resolution"),
        ("hash_grid", {"in_features": 4}, "in_features"),
    ],
)
def test_invalid_values_raise_project_error_naming_the_field(name, bad, needle):
    with pytest.raises(SirenInrError, match=needle):
        build_model(name, **bad)


def test_duplicate_hparam_between_mapping_and_keywords():
    with pytest.raises(SirenInrError, match="hidden_layers"):
        build_model("relu", {"hidden_layers": 2}, hidden_layers=3)


def test_spec_of_unregistered_module_is_an_error():
    with pytest.raises(SirenInrError):
        model_spec(torch.nn.Linear(2, 1))


def test_register_model_rejects_a_second_class_under_a_taken_name():
    with pytest.raises(ValueError):
        @register_model("siren")
        class Other(torch.nn.Module):
            pass


def test_model_spec_round_trip_gives_identical_output(family, small_hparams):
    torch.manual_seed(0)
    model = build_model(family, **small_hparams(family))
    name, spec = model_spec(model)
    assert name == family
    assert all(v is None or isinstance(v, (bool, int, float, str)) for v in spec.values())
    torch.manual_seed(123)  # a different seed: the rebuilt net's own init must not matter
    rebuilt = build_model(name, spec)
    assert model_spec(rebuilt) == (name, spec)
    rebuilt.load_state_dict(model.state_dict())
    coords = torch.rand(50, 2) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(coords), rebuilt(coords))
    # The keyword form and the positional-mapping form agree.
    assert model_spec(build_model(name, **spec)) == (name, spec)
