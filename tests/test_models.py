"""The encoder and its backbones: shapes, output ranges, the paper configuration, errors."""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from radarface import metrics, profiles
from radarface.facemodel import load_model
from radarface.models import (Encoder, backbones, build_encoder, count_parameters, encoder_loss, encoder_run_name,
                              parameter_loss)

SLICES = {"shape": slice(0, 10), "expression": slice(10, 17), "pose": slice(17, 23)}


@pytest.mark.parametrize("backbone, channels, size", [("tiny", 1, 32), ("tiny", 2, 32), ("tiny", 1, 64), ("tiny", 2, 64),
                                                      ("resnet18-narrow", 1, 32), ("resnet18-narrow", 2, 64)])
def test_encoder_output_shape(backbone, channels, size):
    enc = Encoder(channels, size, 10, 7, backbone=backbone)
    out = enc(torch.rand(3, channels, size, size))
    assert out.shape == (3, 23) and enc.n_outputs == 23
    assert enc.slices == SLICES


def test_paper_configuration_runs_forward_and_backward_at_a_tiny_size():
    enc = Encoder(2, 32, 10, 7, n_render=4, backbone="resnet50")
    assert isinstance(enc.heads["shape"].layer1[0], Bottleneck)  # torchvision's ResNet-50
    assert enc.heads["shape"].conv1.in_channels == 2 and enc.heads["shape"].conv1.stride == (1, 1)
    assert enc.heads["pose"].classifier[-1].in_features == 4096  # torchvision's AlexNet width
    out = enc(torch.rand(2, 2, 32, 32))
    assert out.shape == (2, 27)
    out.square().mean().backward()
    assert all(p.grad is not None for p in enc.parameters())
    assert count_parameters(enc) > 50_000_000


def test_shape_and_expression_are_bounded_by_three_pose_is_not():
    torch.manual_seed(0)
    enc = Encoder(1, 32, 4, 3, backbone="tiny")
    with torch.no_grad():
        for head in enc.heads.values():
            head.fc.weight.mul_(1000)
    out = enc(torch.rand(4, 1, 32, 32))
    assert out[:, :7].abs().max() <= 3.0
    assert out[:, :7].abs().max() > 2.9
    assert out[:, 7:].abs().max() > 3.0


def test_encoder_without_some_groups():
    enc = Encoder(1, 32, 5, 0, n_pose=0, backbone="tiny")
    assert set(enc.heads) == {"shape"}
    assert enc(torch.rand(2, 1, 32, 32)).shape == (2, 5)
    assert enc.slices["expression"] == slice(5, 5)


def test_encoder_errors_name_what_was_wrong():
    enc = Encoder(2, 32, 10, 7, backbone="tiny")
    with pytest.raises(ValueError, match=r"images must be \(B, 2, H, W\), got \(3, 1, 32, 32\)"):
        enc(torch.rand(3, 1, 32, 32))
    with pytest.raises(ValueError, match="backbone must be one of"):
        Encoder(2, 32, 10, 7, backbone="vgg")
    with pytest.raises(ValueError, match="image_size must be an integer >= 16"):
        Encoder(2, 8, 10, 7, backbone="tiny")
    with pytest.raises(ValueError, match="n_shape must be an integer >= 0"):
        Encoder(2, 32, -1, 7, backbone="tiny")
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        Encoder(0, 32, 10, 7, backbone="tiny")


def test_stems_adapt_to_the_image_size():
    assert [backbones.stem_stride(s) for s in (16, 32, 64, 128, 256)] == [1, 1, 2, 4, 4]
    r64 = backbones.resnet(1, 3, 64, depth=18, width=16)
    assert r64.conv1.stride == (2, 2) and isinstance(r64.maxpool, torch.nn.Identity)
    r128 = backbones.resnet(1, 3, 128, depth=18, width=16)
    assert isinstance(r128.maxpool, torch.nn.MaxPool2d)
    a64 = backbones.alexnet(2, 6, 64, width=0.25)
    assert a64.features[0].kernel_size == (5, 5) and a64.features[0].stride == (2, 2)
    a224 = backbones.alexnet(3, 6, 224)
    assert a224.features[0].kernel_size == (11, 11)
    # the last feature maps are a few pixels wide, not 1x1
    assert a64.features(torch.rand(1, 2, 64, 64)).shape[-1] == 3
    assert backbones.alexnet(1, 6, 32, width=0.25).features(torch.rand(1, 1, 32, 32)).shape[-1] == 3
    with pytest.raises(ValueError, match="depth must be 18 or 50"):
        backbones.resnet(1, 3, 32, depth=34)
    with pytest.raises(ValueError, match="stride must be 1, 2 or 4"):
        backbones.resnet(1, 3, 32, depth=18, stride=3)


def test_parameter_loss_is_the_mean_squared_error_with_group_logs():
    enc = Encoder(1, 32, 10, 7, backbone="tiny")
    loss_fn = parameter_loss(SLICES)
    x = torch.rand(4, 1, 32, 32)
    enc.eval()
    with torch.no_grad():
        target = enc(x)
        loss, logs = loss_fn(enc, (x, target))
    assert float(loss) == pytest.approx(0.0, abs=1e-10)
    assert set(logs) == {"shape", "expression", "pose"}
    with torch.no_grad():
        loss, logs = loss_fn(enc, (x, target + 2.0))
    assert float(loss) == pytest.approx(4.0, rel=1e-5) and logs["pose"] == pytest.approx(4.0, rel=1e-5)
    with pytest.raises(ValueError, match="does not match targets"):
        loss_fn(enc, (x, torch.zeros(4, 27)))


def test_build_encoder_follows_the_profile_and_is_seeded():
    cfg = profiles.resolve("smoke")
    a, b = build_encoder(cfg, 2, SLICES), build_encoder(cfg, 2, SLICES)
    assert a.backbone == "tiny" and a.in_channels == 2 and a.image_size == 32
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    c = build_encoder(profiles.resolve("smoke", seed=1), 2, SLICES)
    assert not torch.equal(a.heads["shape"].fc.weight, c.heads["shape"].fc.weight)
    assert build_encoder(cfg, 1, {**SLICES, "render": slice(23, 27)}).n_outputs == 27


def test_encoder_run_name_changes_with_the_training_settings():
    cfg = profiles.resolve("smoke")
    name = encoder_run_name(cfg, "both", "/x/synthetic_smoke_1234.h5")
    assert name.startswith("encoder_both_")
    assert name == encoder_run_name(profiles.resolve("smoke"), "both", "/y/synthetic_smoke_1234.h5")
    assert name != encoder_run_name(profiles.resolve("smoke", encoder_epochs=3), "both", "/x/synthetic_smoke_1234.h5")
    assert name != encoder_run_name(cfg, "both", "/x/synthetic_smoke_9999.h5")
    for change in ({"encoder_loss": "vertices"}, {"encoder_augment": {}}, {"encoder_weight_decay": 1e-4},
                   {"encoder_select": "val_loss"}):
        assert name != encoder_run_name(profiles.resolve("smoke", **change), "both", "/x/synthetic_smoke_1234.h5")
    centred = profiles.resolve("smoke", encoder_center_depth=True)
    assert name != encoder_run_name(centred, "both", "/x/synthetic_smoke_1234.h5")
    # amplitude images have no depth to centre: the same network, the same checkpoint
    assert encoder_run_name(centred, "amplitude", "/x/s.h5") == encoder_run_name(cfg, "amplitude", "/x/s.h5")


def test_encoder_run_name_is_the_same_for_equal_augmentation_settings():
    name = lambda augment: encoder_run_name(profiles.resolve("smoke", encoder_augment=augment), "both", "/x/s.h5")  # noqa: E731
    assert name(False) == name(None) == encoder_run_name(profiles.resolve("smoke"), "both", "/x/s.h5")
    assert name(True) == name({}) == name({"p": 0.5}) != name(None)
    assert name({"p": 0.9}) != name({})
    with pytest.raises(ValueError, match="unknown augmentation setting"):
        name({"noise": 0.1})


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
    from radarface.models.encoder import finetune_augmented

    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path))
    cfg = profiles.resolve("smoke", gap_epochs=2)
    data = {"train": _TinySplit(16, 0), "val": _TinySplit(8, 1)}
    base = build_encoder(cfg, 2, _TinySplit.slices, image_size=16)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    control, fit_c = finetune_augmented(cfg, base, data, augment=None, base_checkpoint="encoder_x", progress=False)
    augmented, fit_a = finetune_augmented(cfg, base, data, augment=Augment(p=1.0), base_checkpoint="encoder_x",
                                          progress=False)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert fit_c.checkpoint != fit_a.checkpoint and len(fit_a.history["epoch"]) == 2
    assert fit_c.history["train_loss"] != fit_a.history["train_loss"]
    again, fit_again = finetune_augmented(cfg, base, data, augment=Augment(p=1.0), base_checkpoint="encoder_x",
                                          progress=False)
    assert fit_again.trained == 0
    assert all(torch.equal(a, b) for a, b in zip(augmented.state_dict().values(), again.state_dict().values()))


def test_vertex_loss_is_the_mean_squared_vertex_distance_rescaled():
    face = load_model("builtin", n_shape=3, n_expression=2)
    metric = metrics.vertex_metric(face)
    slices = {"shape": slice(0, 3), "expression": slice(3, 5), "pose": slice(5, 11)}
    g = torch.Generator().manual_seed(0)
    true, pred = torch.randn(6, 11, generator=g), torch.randn(6, 11, generator=g)

    class Fixed(nn.Module):
        def forward(self, x):
            return pred

    loss, logs = parameter_loss(slices, torch.as_tensor(metric))(Fixed(), (torch.zeros(6, 1, 8, 8), true))
    d = (pred - true).double().numpy()
    vt = face.vertices(true[:, :3].double().numpy(), true[:, 3:5].double().numpy())
    vp = face.vertices(pred[:, :3].double().numpy(), pred[:, 3:5].double().numpy())
    squared_mm = ((vt - vp) ** 2).sum(-1)[:, face.face_mask].mean(axis=1)  # per face, mm²
    expected = (squared_mm / np.diag(metric).mean() + (d[:, 5:] ** 2).sum(1)).mean() / 11
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    assert logs["shape"] == pytest.approx(float(((pred - true)[:, :3] ** 2).mean()), rel=1e-5)
    identity = parameter_loss(slices, torch.eye(5))(Fixed(), (torch.zeros(6, 1, 8, 8), true))[0]
    assert float(identity) == pytest.approx(float(((pred - true) ** 2).mean()), rel=1e-5)
    with pytest.raises(ValueError, match=r"metric must be \(5, 5\)"):
        parameter_loss(slices, torch.eye(4))


def test_encoder_loss_follows_the_profile():
    slices = {"shape": slice(0, 10), "expression": slice(10, 17), "pose": slice(17, 23)}
    images, targets = torch.rand(3, 2, 32, 32), torch.randn(3, 23)
    enc = Encoder(2, 32, 10, 7, backbone="tiny").eval()
    channels = ("amplitude", "depth")

    def value(loss_fn):
        return float(loss_fn(enc, (images, targets))[0].detach())

    plain = value(encoder_loss(profiles.resolve("smoke"), slices, channels))
    assert plain == pytest.approx(value(parameter_loss(slices)))
    assert value(encoder_loss(profiles.resolve("smoke", encoder_loss="vertices"), slices, channels)) != \
        pytest.approx(plain)
    off = encoder_loss(profiles.resolve("smoke", encoder_augment=False), slices, channels)
    augmented = encoder_loss(profiles.resolve("smoke", encoder_augment={"p": 1.0}), slices, channels)
    assert value(augmented) == pytest.approx(plain)  # eval mode: images unchanged
    enc.train()
    torch.manual_seed(0)
    a = value(augmented)
    torch.manual_seed(0)
    assert a != pytest.approx(value(parameter_loss(slices)))
    torch.manual_seed(0)
    assert value(off) == pytest.approx(value(parameter_loss(slices)))
    assert value(encoder_loss(profiles.resolve("smoke", encoder_augment=True), slices, channels)) != \
        pytest.approx(value(off))
    with pytest.raises(ValueError, match="encoder_loss must be one of"):
        encoder_loss(profiles.resolve("smoke", encoder_loss="pixels"), slices, ("amplitude",))


def test_centred_depth_moves_each_faces_mean_depth_to_zero_scales_its_relief_and_keeps_the_background():
    from radarface.models.encoder import DEPTH_RELIEF_SCALE, centred_depth

    images = torch.zeros(2, 2, 6, 6)
    images[:, 0] = 0.7  # amplitude everywhere: untouched
    images[0, 1, 1:4, 1:4] = 0.3
    images[1, 1, 2:5, 2:5] = torch.linspace(0.6, 0.8, 9).view(3, 3)
    out = centred_depth(images, 1)
    assert torch.equal(out[:, 0], images[:, 0])
    for b in range(2):
        face = images[b, 1] > 0
        assert float(out[b, 1][face].mean()) == pytest.approx(0.0, abs=1e-6)
        assert bool((out[b, 1][~face] == 0).all())
    relief = images[1, 1][images[1, 1] > 0] - 0.7
    assert torch.allclose(out[1, 1][images[1, 1] > 0], DEPTH_RELIEF_SCALE * relief, atol=1e-5)
    assert torch.allclose(centred_depth(images, 1, scale=1.0)[1, 1][images[1, 1] > 0], relief, atol=1e-6)


def test_center_depth_changes_only_what_the_face_networks_see():
    cfg = profiles.resolve("smoke", encoder_center_depth=True)
    enc = build_encoder(cfg, 2, SLICES, fields=("amplitude", "depth")).eval()
    plain = build_encoder(profiles.resolve("smoke"), 2, SLICES, fields=("amplitude", "depth")).eval()
    assert enc.center_depth == 1 and plain.center_depth is None
    assert build_encoder(cfg, 1, SLICES, fields=("amplitude",)).center_depth is None
    x = torch.zeros(3, 2, 32, 32)
    x[:, :, 8:24, 8:24] = torch.rand(3, 2, 16, 16) * 0.5 + 0.2
    shifted = x.clone()
    shifted[:, 1][x[:, 1] > 0] += 0.1  # the same faces 24 mm further away
    with torch.no_grad():
        a, b = enc(x), enc(shifted)
        assert torch.allclose(a[:, :17], b[:, :17], atol=1e-5)  # shape and expression: unchanged
        assert not torch.allclose(a[:, 17:], b[:, 17:])  # pose sees the distance
        assert not torch.allclose(plain(x)[:, :17], plain(shifted)[:, :17])
    with pytest.raises(ValueError, match="center_depth must be a channel index"):
        Encoder(1, 32, 10, 7, backbone="tiny", center_depth=1)


def test_ensemble_averages_its_members_and_keeps_their_layout():
    from radarface.models import EncoderEnsemble

    torch.manual_seed(0)
    members = [Encoder(2, 32, 10, 7, backbone="tiny").eval() for _ in range(3)]
    ens = EncoderEnsemble(members).eval()
    x = torch.rand(4, 2, 32, 32)
    with torch.no_grad():
        expected = sum(m(x) for m in members) / 3
        assert torch.allclose(ens(x), expected, atol=1e-6)
        assert not torch.allclose(members[0](x), members[1](x))
    assert ens.slices == SLICES and ens.n_outputs == 23 and ens.in_channels == 2
    with pytest.raises(ValueError, match="share input channels"):
        EncoderEnsemble([Encoder(2, 32, 10, 7, backbone="tiny"), Encoder(1, 32, 10, 7, backbone="tiny")])
    with pytest.raises(ValueError, match="at least one"):
        EncoderEnsemble([])


@pytest.mark.parametrize("bad", [0, 11, 1.5, True, "2"])
def test_ensemble_size_is_checked(bad):
    from radarface.models.encoder import ensemble_size

    with pytest.raises(ValueError, match="encoder_ensemble"):
        ensemble_size(profiles.resolve("smoke", encoder_ensemble=bad))


def test_ensemble_members_differ_by_their_encoder_seed_only():
    from radarface.models.encoder import member_config

    cfg = profiles.resolve("smoke", encoder_ensemble=2)
    name = encoder_run_name(cfg, "both", "/x/s.h5")
    assert name.startswith("encoder_both_ensemble2_")
    assert encoder_run_name(member_config(cfg, 0), "both", "/x/s.h5") == encoder_run_name(
        profiles.resolve("smoke"), "both", "/x/s.h5")
    second = encoder_run_name(member_config(cfg, 1), "both", "/x/s.h5")
    assert second not in (encoder_run_name(profiles.resolve("smoke"), "both", "/x/s.h5"),
                          encoder_run_name(profiles.resolve("smoke", seed=1), "both", "/x/s.h5"))
    assert member_config(cfg, 1)["seed"] == cfg["seed"]  # the dataset and the learned renderer stay the same
    assert name != encoder_run_name(profiles.resolve("smoke", encoder_ensemble=3), "both", "/x/s.h5")
    assert name != encoder_run_name(dict(cfg, encoder_epochs=3), "both", "/x/s.h5")


def test_fit_encoder_ensemble_reuses_the_single_run_as_its_first_member(tmp_path, monkeypatch):
    from radarface import train
    from radarface.models import EncoderEnsemble
    from radarface.models.encoder import encoder_data, fit_encoder

    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    cfg = profiles.resolve("smoke", encoder_epochs=1)
    data = encoder_data(cfg, "amplitude")
    single, fit1 = fit_encoder(cfg, data, progress=False)
    ens, fit2 = fit_encoder(dict(cfg, encoder_ensemble=2), data, progress=False)
    assert isinstance(ens, EncoderEnsemble) and len(ens.members) == 2 and not ens.training
    assert [f.trained for f in fit2.members] == [0, 1] and fit2.trained == 1
    assert fit2.members[0].checkpoint == fit1.checkpoint != fit2.members[1].checkpoint
    x = data["val"].tensors()[0][:4]
    with torch.no_grad():
        assert torch.equal(ens.members[0](x), single(x))
        assert not torch.allclose(ens.members[1](x), single(x))
        assert torch.allclose(ens(x), (single(x) + ens.members[1](x)) / 2, atol=1e-6)


def test_member_rows_score_each_member_and_their_mean(tmp_path, monkeypatch):
    from radarface import facemodel, metrics, train
    from radarface.models.encoder import encoder_data, fit_encoder, member_rows

    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    cfg = profiles.resolve("smoke", encoder_epochs=1, encoder_ensemble=2)
    data = encoder_data(cfg, "amplitude")
    face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
    ens, _ = fit_encoder(cfg, data, progress=False)
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
    from radarface import train
    from radarface.models.encoder import encoder_data, fit_encoder, validation_loss

    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    cfg = profiles.resolve("smoke", encoder_epochs=1, encoder_ensemble=2)
    data = encoder_data(cfg, "amplitude")
    ens, fit = fit_encoder(cfg, data, progress=False)
    for member, member_fit in zip(ens.members, fit.members):
        assert validation_loss(cfg, member, data["val"]) == pytest.approx(member_fit.held_value("val_loss"), rel=1e-5)
    assert validation_loss(cfg, ens, data["val"]) not in [pytest.approx(f.held_value("val_loss")) for f in fit.members]


def test_shared_trunk_predicts_every_target_unbounded_from_one_network():
    enc = Encoder(2, 32, 10, 7, backbone="plain", center_depth=1)
    assert list(enc.heads) == ["all"] and enc.heads["all"].features[0].in_channels == 3  # + centred depth
    with torch.no_grad():
        enc.heads["all"].fc.bias.fill_(10.0)
        out = enc(torch.rand(2, 2, 32, 32))
    assert out.shape == (2, 23) and out.max() > 3.0  # no tanh bound
    flat, pooled = backbones.plain_cnn(1, 5, 64), backbones.plain_cnn(1, 5, 64, pool="average")
    assert flat.fc.in_features == 256 * 4 * 4 and pooled.fc.in_features == 256
    with pytest.raises(ValueError, match="pool must be"):
        backbones.plain_cnn(1, 5, 64, pool="max")
    with pytest.raises(ValueError, match="plain"):
        Encoder(1, 32, 10, 7, backbone="nope")


def test_encoder_run_name_changes_with_backbone_and_optimizer():
    cfg = profiles.resolve("smoke")
    names = {encoder_run_name(profiles.resolve("smoke", **change), "both", "d.h5")
             for change in ({}, {"encoder_backbone": "plain"}, {"encoder_optimizer": "adamw"})}
    assert len(names) == 3 and encoder_run_name(cfg, "both", "d.h5") in names
