import re

import pytest

from radarface import profiles


def test_every_profile_resolves_with_the_same_keys():
    keys = {name: set(profiles.resolve(name)) for name in profiles.names()}
    assert len(set(map(frozenset, keys.values()))) == 1
    assert {"smoke", "cpu", "paper"} <= set(profiles.names())


def test_smoke_uses_builtin_model_and_others_auto():
    assert profiles.resolve("smoke")["model"] == "builtin"
    assert profiles.resolve("cpu")["model"] == "auto"
    assert profiles.resolve("paper")["model"] == "auto"


def test_paper_profile_keeps_the_papers_schedules():
    cfg = profiles.resolve("paper")
    assert cfg["encoder_backbone"] == "resnet50" and cfg["encoder_epochs"] == 200 and cfg["encoder_batch"] == 50
    assert cfg["encoder_lr"] == (0.01, 0.001)
    assert cfg["decoder_epochs"] == 300 and cfg["decoder_batch"] == 150 and cfg["decoder_lr"] == 0.001
    assert cfg["n_samples"] == 10_000


def test_common_settings_are_the_papers_and_choices_beyond_it_are_the_cpu_profiles():
    paper = profiles.resolve("paper")
    assert paper["decoder_background_weight"] == 1.0  # plain L2 image loss
    assert paper["tta_prior_weight"] == 0.0  # test-time refinement on the image loss alone
    assert paper["param_loss_weight"] == 1.0 and paper["encoder_loss"] == "parameters"
    assert paper["encoder_ensemble"] == 1 and paper["encoder_rendered"] == 0.0 and paper["encoder_augment"] is None
    assert paper["autoencoder_epochs"] == 300 and paper["autoencoder_batch"] == 50
    cpu = profiles.resolve("cpu")
    assert cpu["decoder_background_weight"] == 0.1 and cpu["tta_prior_weight"] == 5e-4


def test_overrides_win_and_none_keeps_the_profile_value():
    assert profiles.resolve("cpu", n_samples=5)["n_samples"] == 5
    assert profiles.resolve("cpu", n_samples=None)["n_samples"] == 10_000


def test_resolve_returns_independent_copies():
    a = profiles.resolve("smoke")
    a["n_samples"] = -1
    assert profiles.resolve("smoke")["n_samples"] != -1


def test_unknown_profile_and_setting_are_refused():
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        profiles.resolve("gpu")
    with pytest.raises(ValueError, match="n_sample"):
        profiles.resolve("smoke", n_sample=3)


@pytest.mark.parametrize("name, value, words", [
    ("encoder_epochs", 2.5, "a whole number"), ("seed", "abc", "a whole number"), ("image_size", 7.5, "a whole number"),
    ("encoder_center_depth", "yes", "True or False"), ("model", 3, "a text or path"), ("gap_augment", [1], "a dict"),
    ("encoder_epochs", True, "a whole number"),
])
def test_overrides_of_the_wrong_type_are_refused_naming_the_setting(name, value, words):
    with pytest.raises(ValueError, match=rf"setting '{name}' takes {words}.*got {re.escape(repr(value))}"):
        profiles.resolve("cpu", **{name: value})


def test_overrides_of_fitting_types_are_accepted():
    cfg = profiles.resolve("cpu", decoder_lr=1, encoder_lr=("one-cycle", 3e-3), tta_lr=0.05, encoder_rendered=0,
                           encoder_augment={"p": 1.0}, model="builtin")
    assert cfg["decoder_lr"] == 1 and cfg["encoder_lr"][0] == "one-cycle"
    assert profiles.resolve("cpu", encoder_lr=1e-3)["encoder_lr"] == 1e-3
