"""Encoder training samples drawn by the learned renderer (radarface.losses.rendered_loss)."""

import math

import pytest
import torch
from torch import nn

from radarface import profiles, train
from radarface.experiments.fitting import encoder_data, encoder_loss, profile_encoder
from radarface.experiments.settings import EncoderSettings, RendererSettings
from radarface.losses import prior_vectors, rendered_loss

SLICES = {"shape": slice(0, 2), "expression": slice(2, 3), "pose": slice(3, 9)}


class _Renderer(nn.Module):
    """Draws a vector as a 2 x 4 x 4 image whose pixels hold squashed parameters (so images tell vectors apart)."""

    n_params = 11  # 2 shape, 1 expression, 6 pose, 2 rendering

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        pixels = torch.sigmoid(self.weight * v[:, :1].repeat(1, 32))
        return pixels.view(len(v), 2, 4, 4)


def _recording_loss(seen: list):
    def loss_fn(model, batch):
        seen.append(batch)
        return torch.zeros(()), {}
    return loss_fn


def test_prior_vectors_follow_the_sampling_prior_and_are_seeded():
    v = prior_vectors(20_000, n_shape=3, n_expression=2, n_render=4, generator=torch.Generator().manual_seed(1))
    assert v.shape == (20_000, 15)
    assert torch.allclose(v.mean(0), torch.zeros(15), atol=0.05)
    assert torch.allclose(v.std(0), torch.ones(15), atol=0.03)  # pose/render uniform of unit variance too
    assert v[:, 5:].abs().max() <= math.sqrt(3.0) and v[:, :5].abs().max() > 2.5  # only the face is Gaussian
    again = prior_vectors(5, n_shape=3, n_expression=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again, prior_vectors(5, n_shape=3, n_expression=2, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="counts must be >= 0"):
        prior_vectors(3, n_shape=-1, n_expression=2)


def test_training_batches_grow_by_the_share_with_targets_matching_the_images():
    seen, renderer = [], _Renderer()
    loss = rendered_loss(_recording_loss(seen), renderer, 0.5, n_shape=2, n_expression=1, n_targets=9)
    model = nn.Linear(1, 1)
    images, targets = torch.rand(8, 2, 4, 4), torch.randn(8, 9)
    torch.manual_seed(0)
    loss(model, (images, targets))
    got_images, got_targets = seen[-1]
    assert got_images.shape == (12, 2, 4, 4) and got_targets.shape == (12, 9)
    assert torch.equal(got_images[:8], images) and torch.equal(got_targets[:8], targets)
    # each drawn image is the renderer's picture of its own target's first column
    assert torch.allclose(got_images[8:, 0, 0, 0], torch.sigmoid(got_targets[8:, 0]))
    assert renderer.weight.grad is None and not renderer.weight.requires_grad
    torch.manual_seed(0)
    loss(model, (images, targets))
    assert torch.equal(seen[-1][1], got_targets)  # the global seed (set per epoch by train.fit) fixes the draws
    model.eval()
    loss(model, (images, targets))
    assert seen[-1][0] is images  # validation sees the dataset's images only


@pytest.mark.parametrize("kwargs, match", [
    (dict(share=0.0), "share must be > 0"),
    (dict(n_targets=12), "fewer than"),
    (dict(n_shape=9), "fewer than"),
])
def test_bad_settings_are_clear_errors(kwargs, match):
    options = dict(share=1.0, n_shape=2, n_expression=1, n_targets=9) | kwargs
    share = options.pop("share")
    with pytest.raises(ValueError, match=match):
        rendered_loss(_recording_loss([]), _Renderer(), share, **options)


def test_images_of_another_size_or_channel_count_are_refused():
    loss = rendered_loss(_recording_loss([]), _Renderer(), 1.0, n_shape=2, n_expression=1, n_targets=9)
    with pytest.raises(ValueError, match="renderer draws"):
        loss(nn.Linear(1, 1), (torch.rand(4, 1, 4, 4), torch.randn(4, 9)))
    with pytest.raises(ValueError, match="targets have"):
        loss(nn.Linear(1, 1), (torch.rand(4, 2, 4, 4), torch.randn(4, 7)))


def test_profile_setting_is_checked_and_needs_a_renderer():
    assert EncoderSettings.from_profile(profiles.resolve("smoke")).rendered == 0.0
    for bad in (-1, 11):  # numbers out of range: the setting's own check
        with pytest.raises(ValueError, match="encoder_rendered must be"):
            EncoderSettings.from_profile(profiles.resolve("smoke", encoder_rendered=bad))
    for bad in ("a", True):  # not a number at all: refused where the profile is resolved
        with pytest.raises(ValueError, match="setting 'encoder_rendered' takes a number"):
            profiles.resolve("smoke", encoder_rendered=bad)
    settings = EncoderSettings.from_profile(profiles.resolve("smoke", encoder_rendered=1.0))
    with pytest.raises(ValueError, match="needs the learned renderer"):
        encoder_loss(settings, SLICES, ("amplitude", "depth"))


def test_run_name_names_the_share_and_its_renderer_only_when_used():
    plain = profiles.resolve("smoke")

    def name(cfg):
        renderer = RendererSettings.from_profile(cfg).run_name("both", "/x/s.h5")
        return EncoderSettings.from_profile(cfg).run_name("both", "/x/s.h5", renderer)

    assert name(plain) == name(profiles.resolve("smoke", encoder_rendered=0))
    with_share = profiles.resolve("smoke", encoder_rendered=1.0)
    assert name(with_share) != name(plain)
    assert name(with_share) != name(profiles.resolve("smoke", encoder_rendered=0.5))
    assert name(with_share) != name(profiles.resolve("smoke", encoder_rendered=1.0, decoder_epochs=3))


def test_fit_encoder_trains_its_renderer_first_and_differs_from_the_plain_run(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    cfg = profiles.resolve("smoke", encoder_epochs=1, decoder_epochs=1)
    data = encoder_data(cfg, "amplitude")
    _, plain, _ = profile_encoder(cfg, data, progress=False)
    _, mixed, _ = profile_encoder(dict(cfg, encoder_rendered=1.0), data, progress=False)
    assert mixed.checkpoint != plain.checkpoint
    assert any(p.name.startswith("decoder_both_") for p in tmp_path.iterdir())
    assert mixed.history["train_loss"] != plain.history["train_loss"]
    assert mixed.history["val_loss"] != plain.history["val_loss"]


def test_ensemble_members_share_one_dataset_and_one_learned_renderer(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    cfg = profiles.resolve("smoke", encoder_epochs=1, decoder_epochs=1, encoder_rendered=1.0, encoder_ensemble=2)
    data = encoder_data(cfg, "amplitude")
    ens, fit, _ = profile_encoder(cfg, data, progress=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert sum(n.startswith("decoder_both_") and n.endswith(".pt") for n in names) == 1, names
    assert sum(n.startswith("encoder_amplitude_") and n.endswith(".pt") for n in names) == 2, names
    assert fit.members[0].history["train_loss"] != fit.members[1].history["train_loss"]
