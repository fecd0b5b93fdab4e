"""Typed settings per stage: built from a profile, checked, and naming their own runs."""

import pytest

from radarface import profiles
from radarface.dataset import DatasetSettings
from radarface.experiments.settings import (AutoencoderSettings, EncoderSettings, GapSettings, PhysicsSettings,
                                            RefinementSettings, RendererSettings)
from radarface.measurements import SurrogateSettings


def encoder_run_name(cfg, inputs, path, renderer=None):
    """The encoder run name of a resolved profile (the rendered share's renderer named ``renderer``)."""
    return EncoderSettings.from_profile(cfg).run_name(inputs, path, renderer)


def test_encoder_run_name_changes_with_the_training_settings():
    cfg = profiles.resolve("smoke")
    name = encoder_run_name(cfg, "both", "/x/synthetic_smoke_1234.h5")
    assert name.startswith("encoder_both_")
    assert name == encoder_run_name(profiles.resolve("smoke"), "both", "/y/synthetic_smoke_1234.h5")
    assert name != encoder_run_name(profiles.resolve("smoke", encoder_epochs=3), "both", "/x/synthetic_smoke_1234.h5")
    assert name != encoder_run_name(cfg, "both", "/x/synthetic_smoke_9999.h5")
    for change in ({"encoder_loss": "vertices"}, {"encoder_augment": {}}, {"encoder_weight_decay": 1e-4},
                   {"encoder_select": "val_loss"}, {"encoder_center_depth": True}, {"encoder_render": True},
                   {"encoder_backbone": "plain"}, {"encoder_optimizer": "adamw"}, {"encoder_lr": 0.002}):
        assert name != encoder_run_name(profiles.resolve("smoke", **change), "both", "/x/synthetic_smoke_1234.h5")
    # the thread count changes how fast, not what is trained
    assert name == encoder_run_name(profiles.resolve("smoke", train_threads=2), "both", "/x/synthetic_smoke_1234.h5")


def test_precision_names_a_run_only_when_it_is_not_float32():
    """The field came after the runs were named: float32 runs keep the names (and checkpoints) they had."""
    from dataclasses import replace

    settings = EncoderSettings.from_profile(profiles.resolve("smoke"))
    assert settings.precision == "float32"
    assert settings.run_name("both", "synthetic_x.h5") == "encoder_both_d1684b5c"  # the name before the field
    assert replace(settings, precision="bfloat16").run_name("both", "synthetic_x.h5") != "encoder_both_d1684b5c"
    with pytest.raises(ValueError, match="encoder_precision must be one of"):
        replace(settings, precision="float16")


def test_every_field_names_the_run_but_the_thread_count():
    """A field added to a settings class changes its runs' names without anyone listing it."""
    from dataclasses import fields, replace

    for settings, args in ((EncoderSettings(), ("both", "d.h5", "decoder_x")), (RendererSettings(), ("both", "d.h5")),
                           (AutoencoderSettings(), ("both", "d.h5", "enc.pt", "dec.pt")),
                           (GapSettings(), ("both", "encoder_x"))):
        kwargs = {"augmented": True} if isinstance(settings, GapSettings) else {}
        name = settings.run_name(*args, **kwargs)
        for f in fields(settings):
            value = getattr(settings, f.name)
            other = {int: lambda v: v + 1, float: lambda v: v + 0.5, str: lambda v: v, bool: lambda v: not v}
            changed = None
            if f.name == "threads":
                assert settings.run_name(*args, **kwargs) == replace(settings, threads=3).run_name(*args, **kwargs)
                continue
            if f.name in ("backbone",):
                changed = "tiny"
            elif f.name in ("loss", "parameter_loss"):
                changed = "vertices"
            elif f.name == "optimizer":
                changed = "adamw"
            elif f.name == "precision":
                changed = "bfloat16"
            elif f.name == "lr":
                changed = 0.123
            elif f.name == "select":
                changed = "val_loss"
            elif f.name == "augment":
                changed = None if value is not None else __import__("radarface.augment").augment.Augment(p=0.9)
            elif f.name == "ensemble":
                continue  # an ensemble is named over its members
            elif type(value) in other:
                changed = other[type(value)](value)
            assert replace(settings, **{f.name: changed}).run_name(*args, **kwargs) != name, f.name


def test_encoder_run_name_is_the_same_for_equal_augmentation_settings():
    name = lambda augment: encoder_run_name(profiles.resolve("smoke", encoder_augment=augment), "both", "/x/s.h5")  # noqa: E731
    assert name(False) == name(None) == encoder_run_name(profiles.resolve("smoke"), "both", "/x/s.h5")
    assert name(True) == name({}) == name({"p": 0.5}) != name(None)
    assert name({"p": 0.9}) != name({})
    with pytest.raises(ValueError, match="unknown augmentation setting"):
        name({"noise": 0.1})


@pytest.mark.parametrize("bad", [0, 11, 1.5, True, "2"])
def test_ensemble_size_is_checked(bad):
    with pytest.raises(ValueError, match="encoder_ensemble"):
        EncoderSettings(ensemble=bad)


@pytest.mark.parametrize("field, value, words", [("rendered", 11.0, "encoder_rendered must be a number in"),
                                                 ("loss", "pixels", "encoder_loss must be one of"),
                                                 ("backbone", "nope", "encoder_backbone must be one of"),
                                                 ("epochs", 0, "encoder_epochs must be an integer >= 1")])
def test_encoder_settings_are_checked_naming_the_profile_key(field, value, words):
    with pytest.raises(ValueError, match=words):
        EncoderSettings(**{field: value})


def test_ensemble_members_differ_by_their_encoder_seed_only():
    settings = EncoderSettings.from_profile(profiles.resolve("smoke", encoder_ensemble=2))
    name = settings.run_name("both", "/x/s.h5")
    assert name.startswith("encoder_both_ensemble2_")
    first, second = settings.members()
    single = EncoderSettings.from_profile(profiles.resolve("smoke"))
    assert first.run_name("both", "/x/s.h5") == single.run_name("both", "/x/s.h5")
    assert second.run_name("both", "/x/s.h5") not in (
        single.run_name("both", "/x/s.h5"),
        EncoderSettings.from_profile(profiles.resolve("smoke", seed=1)).run_name("both", "/x/s.h5"))
    assert second.seed == settings.seed and second.weights_seed == settings.seed + 1  # same data, same renderer
    assert name != encoder_run_name(profiles.resolve("smoke", encoder_ensemble=3), "both", "/x/s.h5")
    assert name != encoder_run_name(profiles.resolve("smoke", encoder_ensemble=2, encoder_epochs=3), "both", "/x/s.h5")


def test_rendered_samples_name_their_renderer():
    cfg = profiles.resolve("smoke", encoder_rendered=1.0)
    with pytest.raises(ValueError, match="pass renderer="):
        encoder_run_name(cfg, "both", "d.h5")
    assert encoder_run_name(cfg, "both", "d.h5", "decoder_a") != encoder_run_name(cfg, "both", "d.h5", "decoder_b")
    plain = profiles.resolve("smoke")
    assert encoder_run_name(plain, "both", "d.h5", "decoder_a") == encoder_run_name(plain, "both", "d.h5")


def test_renderer_run_name_covers_the_loss_weight():
    cfg = profiles.resolve("smoke")
    name = RendererSettings.from_profile(cfg).run_name("both", "d.h5")
    other = RendererSettings.from_profile(profiles.resolve("smoke", decoder_background_weight=1.0))
    assert name.startswith("decoder_both_") and name != other.run_name("both", "d.h5")


def test_autoencoder_run_name_depends_on_the_networks_it_starts_from():
    settings = AutoencoderSettings.from_profile(profiles.resolve("smoke"))
    name = settings.run_name("both", "/x/d.h5", "encoder_a", "/y/decoder_a.pt")
    assert name.startswith("autoencoder_both_")
    assert name == settings.run_name("both", "/z/d.h5", "/w/encoder_a", "decoder_a.pt")
    assert name != settings.run_name("both", "/x/d.h5", "encoder_b", "decoder_a.pt")
    assert name != settings.run_name("both", "/x/d.h5", "encoder_a", "decoder_b.pt")
    lam = AutoencoderSettings.from_profile(profiles.resolve("smoke", param_loss_weight=0.5))
    assert name != lam.run_name("both", "/x/d.h5", "encoder_a", "decoder_a.pt")


def test_refinement_settings_follow_the_profile():
    settings = RefinementSettings.from_profile(profiles.resolve("smoke", tta_encoder_steps=None, tta_steps=7))
    assert settings.steps == settings.encoder_steps == 7
    assert RefinementSettings.from_profile(profiles.resolve("smoke", tta_encoder_steps=3)).encoder_steps == 3
    with pytest.raises(ValueError, match="tta_blend must be in"):
        RefinementSettings(blend=1.5)
    with pytest.raises(ValueError, match="tta_prior_center must be one of"):
        RefinementSettings(prior_center="mean")


def test_gap_runs_are_named_apart_from_their_control():
    settings = GapSettings.from_profile(profiles.resolve("smoke"))
    augmented = settings.run_name("both", "encoder_x", augmented=True)
    control = settings.run_name("both", "encoder_x", augmented=False)
    assert augmented.startswith("encoder_both_augmented_") and control.startswith("encoder_both_control_")
    assert control == GapSettings.from_profile(profiles.resolve("smoke", gap_augment={"p": 0.9})).run_name(
        "both", "encoder_x", augmented=False)


class _Recording(dict):
    """A resolved profile that remembers which keys were read."""

    def __init__(self, values):
        super().__init__(values)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def test_every_profile_key_of_a_stage_reaches_its_settings():
    """A profile key no settings object reads would change nothing: every key reaches one."""
    cfg = _Recording(profiles.resolve("cpu"))
    for settings in (EncoderSettings, RendererSettings, AutoencoderSettings, RefinementSettings, GapSettings,
                     PhysicsSettings, DatasetSettings, SurrogateSettings):
        settings.from_profile(cfg)
    assert not set(cfg) - cfg.read, sorted(set(cfg) - cfg.read)
