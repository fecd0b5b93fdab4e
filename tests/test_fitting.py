"""Training the networks on a profile's data: builders, losses, ensembles, checkpoints, the domain-gap fine-tuning."""

import pytest
import torch

from radarface import facemodel, metrics, profiles, train
from radarface.experiments.fitting import (build_decoder, build_encoder, encoder_data, encoder_loss, face_metric,
                                           finetune_augmented, fit_encoder, member_rows, profile_encoder,
                                           profile_encoders, validation_loss)
from radarface.experiments.settings import EncoderSettings, GapSettings, RendererSettings
from radarface.losses import parameter_loss
from radarface.models import Encoder, EncoderEnsemble

SLICES = {"shape": slice(0, 10), "expression": slice(10, 17), "pose": slice(17, 23)}


def encoder_settings(**overrides):
    """The smoke profile's encoder settings with profile ``overrides``."""
    return EncoderSettings.from_profile(profiles.resolve("smoke", **overrides))


def test_build_encoder_follows_the_settings_and_is_seeded():
    settings = encoder_settings()
    a, b = build_encoder(settings, 2, SLICES, image_size=32), build_encoder(settings, 2, SLICES, image_size=32)
    assert a.backbone == "tiny" and a.in_channels == 2 and a.image_size == 32
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    c = build_encoder(encoder_settings(seed=1), 2, SLICES, image_size=32)
    assert not torch.equal(a.heads["shape"].fc.weight, c.heads["shape"].fc.weight)
    assert build_encoder(settings, 1, {**SLICES, "render": slice(23, 27)}, image_size=32).n_outputs == 27
    assert a.precision == "float32"
    assert build_encoder(encoder_settings(encoder_precision="bfloat16"), 2, SLICES, image_size=32).precision == "bfloat16"


def test_build_decoder_is_seeded():
    settings = RendererSettings.from_profile(profiles.resolve("smoke"))
    a, b = build_decoder(settings, 27, 2, image_size=32), build_decoder(settings, 27, 2, image_size=32)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


class _TinySplit(torch.utils.data.Dataset):
    """Stands in for a RadarFaceDataset split: two-channel 16 x 16 images with faces in a square."""

    inputs, fields = "both", ("amplitude", "depth")
    slices = {"shape": slice(0, 2), "expression": slice(2, 3), "pose": slice(3, 9)}

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.zeros(n, 2, 16, 16)
        self.images[:, :, 4:12, 4:12] = torch.rand(n, 2, 8, 8, generator=g) * 0.8 + 0.1
        self.targets = torch.randn(n, 9, generator=g)

    def __len__(self):
        return len(self.images)

    def tensors(self):
        return self.images, self.targets


def test_finetune_augmented_leaves_the_base_alone_differs_from_its_control_and_resumes(tmp_path, monkeypatch):
    from radarface.augment import Augment

    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path))
    settings = GapSettings(epochs=2, batch=16, augment=Augment(p=1.0))
    data = {"train": _TinySplit(16, 0), "val": _TinySplit(8, 1)}
    base = build_encoder(encoder_settings(), 2, _TinySplit.slices, image_size=16)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    control, fit_c = finetune_augmented(settings, base, data, augmented=False, base_checkpoint="encoder_x",
                                        progress=False)
    augmented, fit_a = finetune_augmented(settings, base, data, augmented=True, base_checkpoint="encoder_x",
                                          progress=False)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert fit_c.checkpoint != fit_a.checkpoint and len(fit_a.history["epoch"]) == 2
    assert fit_c.history["train_loss"] != fit_a.history["train_loss"]
    again, fit_again = finetune_augmented(settings, base, data, augmented=True, base_checkpoint="encoder_x",
                                          progress=False)
    assert fit_again.trained == 0
    assert all(torch.equal(a, b) for a, b in zip(augmented.state_dict().values(), again.state_dict().values()))


def test_encoder_loss_follows_the_settings():
    slices = {"shape": slice(0, 10), "expression": slice(10, 17), "pose": slice(17, 23)}
    images, targets = torch.rand(3, 2, 32, 32), torch.randn(3, 23)
    enc = Encoder(2, 32, 10, 7, backbone="tiny").eval()
    channels = ("amplitude", "depth")
    face = facemodel.load_model("builtin", 10, 7)

    def value(loss_fn):
        return float(loss_fn(enc, (images, targets))[0].detach())

    plain = value(encoder_loss(encoder_settings(), slices, channels))
    assert plain == pytest.approx(value(parameter_loss(slices)))
    vertices = encoder_loss(encoder_settings(encoder_loss="vertices"), slices, channels,
                            metric=face_metric("vertices", face))
    assert value(vertices) != pytest.approx(plain)
    off = encoder_loss(encoder_settings(encoder_augment=False), slices, channels)
    augmented = encoder_loss(encoder_settings(encoder_augment={"p": 1.0}), slices, channels)
    assert value(augmented) == pytest.approx(plain)  # eval mode: images unchanged
    enc.train()
    torch.manual_seed(0)
    a = value(augmented)
    torch.manual_seed(0)
    assert a != pytest.approx(value(parameter_loss(slices)))
    torch.manual_seed(0)
    assert value(off) == pytest.approx(value(parameter_loss(slices)))
    assert value(encoder_loss(encoder_settings(encoder_augment=True), slices, channels)) != pytest.approx(value(off))
    with pytest.raises(ValueError, match="encoder_loss must be one of"):
        encoder_settings(encoder_loss="pixels")
    with pytest.raises(ValueError, match="pass face="):
        face_metric("vertices", None)
    assert face_metric("parameters", face) is None


def test_center_depth_changes_only_what_the_face_networks_see():
    centred = encoder_settings(encoder_center_depth=True)
    enc = build_encoder(centred, 2, SLICES, image_size=32, fields=("amplitude", "depth")).eval()
    plain = build_encoder(encoder_settings(), 2, SLICES, image_size=32, fields=("amplitude", "depth")).eval()
    assert enc.center_depth == 1 and plain.center_depth is None
    assert build_encoder(centred, 1, SLICES, image_size=32, fields=("amplitude",)).center_depth is None
    x = torch.zeros(3, 2, 32, 32)
    x[:, :, 8:24, 8:24] = torch.rand(3, 2, 16, 16) * 0.5 + 0.2
    shifted = x.clone()
    shifted[:, 1][x[:, 1] > 0] += 0.1  # the same faces 24 mm further away
    with torch.no_grad():
        a, b = enc(x), enc(shifted)
        assert torch.allclose(a[:, :17], b[:, :17], atol=1e-5)  # shape and expression: unchanged
        assert not torch.allclose(a[:, 17:], b[:, 17:])  # pose sees the distance
        assert not torch.allclose(plain(x)[:, :17], plain(shifted)[:, :17])


def test_fit_encoder_ensemble_reuses_the_single_run_as_its_first_member(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    cfg = profiles.resolve("smoke", encoder_epochs=1)
    data = encoder_data(cfg, "amplitude")
    single, fit1 = fit_encoder(EncoderSettings.from_profile(cfg), data, progress=False)
    ens, fit2 = fit_encoder(encoder_settings(encoder_epochs=1, encoder_ensemble=2), data, progress=False)
    assert isinstance(ens, EncoderEnsemble) and len(ens.members) == 2 and not ens.training
    assert [f.trained for f in fit2.members] == [0, 1] and fit2.trained == 1
    assert fit2.members[0].checkpoint == fit1.checkpoint != fit2.members[1].checkpoint
    x = data["val"].tensors()[0][:4]
    with torch.no_grad():
        assert torch.equal(ens.members[0](x), single(x))
        assert not torch.allclose(ens.members[1](x), single(x))
        assert torch.allclose(ens(x), (single(x) + ens.members[1](x)) / 2, atol=1e-6)


def test_member_rows_score_each_member_and_their_mean(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    cfg = profiles.resolve("smoke", encoder_epochs=1, encoder_ensemble=2)
    data = encoder_data(cfg, "amplitude")
    face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
    ens, _ = fit_encoder(EncoderSettings.from_profile(cfg), data, progress=False)
    rows = member_rows(face, ens, data["val"])
    assert list(rows) == ["member 0", "member 1", "ensemble"]
    images, true = data["val"].tensors()
    for name, model in (("member 1", ens.members[1]), ("ensemble", ens)):
        with torch.no_grad():
            expected = metrics.evaluate(face, true.numpy(), model(images).numpy(), data["val"].slices,
                                        data["val"].denormalise)
        assert rows[name]["vertex_mm"] == pytest.approx(expected["vertex_mm"], rel=1e-5)
    assert rows["member 0"]["vertex_mm"] != rows["member 1"]["vertex_mm"]
    assert member_rows(face, ens.members[0], data["val"]) == {}


def test_validation_loss_is_what_training_logged_and_scores_an_ensemble(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    cfg = profiles.resolve("smoke", encoder_epochs=1, encoder_ensemble=2)
    data = encoder_data(cfg, "amplitude")
    ens, fit = fit_encoder(EncoderSettings.from_profile(cfg), data, progress=False)
    for member, member_fit in zip(ens.members, fit.members):
        assert validation_loss(member, data["val"]) == pytest.approx(member_fit.held_value("val_loss"), rel=1e-5)
    assert validation_loss(ens, data["val"]) not in [pytest.approx(f.held_value("val_loss")) for f in fit.members]


def test_profile_encoders_train_side_by_side_what_profile_encoder_then_reuses(tmp_path, monkeypatch):
    cfg = profiles.resolve("smoke", encoder_epochs=1, workers=2)
    dataset_file = encoder_data(cfg, "amplitude")["train"].path  # made in the default data folder if missing
    for folder in ("side", "alone"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / dataset_file.name).symlink_to(dataset_file)
    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path / "side"))
    assert profile_encoders(cfg, ["amplitude", "depth"], progress=False) == ["amplitude", "depth"]
    side = {}
    for inputs in ("amplitude", "depth"):
        side[inputs], fit, name = profile_encoder(cfg, encoder_data(cfg, inputs), progress=False)
        assert fit.trained == 0 and fit.checkpoint == tmp_path / "side" / "checkpoints" / f"{name}.pt"
    assert profile_encoders(cfg, ["amplitude", "depth"], progress=False) == []
    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path / "alone"))
    for inputs in ("amplitude", "depth"):
        alone, fit, _ = profile_encoder(dict(cfg, train_threads=1), encoder_data(cfg, inputs), progress=False)
        assert fit.trained == 1
        x = encoder_data(cfg, inputs)["val"].tensors()[0][:4]
        with torch.no_grad():
            assert torch.equal(side[inputs](x), alone(x))  # what profile_encoder makes alone with one thread


def test_a_bfloat16_encoder_warns_on_a_cpu_without_bfloat16_units_and_trains(tmp_path, monkeypatch):
    import radarface.experiments.fitting as fitting

    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    monkeypatch.setattr(fitting, "bfloat16_native", lambda: False)
    cfg = profiles.resolve("smoke", encoder_epochs=1, encoder_precision="bfloat16")
    data = encoder_data(cfg, "amplitude")
    with pytest.warns(UserWarning, match="no bfloat16 units"):
        model, result = fit_encoder(EncoderSettings.from_profile(cfg), data, progress=False)
    assert model.precision == "bfloat16" and result.trained == 1 and "val_loss" in result.history
