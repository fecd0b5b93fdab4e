"""Image randomisation for the domain gap (radarface.augment)."""

import pytest
import torch

from radarface.augment import Augment, augmented_loss


def _images(n: int = 16, channels: int = 2) -> torch.Tensor:
    """Faces in a 4 x 4 square of 8 x 8 images, background 0."""
    images = torch.zeros(n, channels, 8, 8)
    images[:, :, 2:6, 2:6] = 0.6
    return images


def test_deterministic_from_generator_and_in_range():
    a = Augment(p=1.0).apply(_images(), ("amplitude", "depth"), torch.Generator().manual_seed(3))
    b = Augment(p=1.0).apply(_images(), ("amplitude", "depth"), torch.Generator().manual_seed(3))
    c = Augment(p=1.0).apply(_images(), ("amplitude", "depth"), torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_clutter_only_in_background_and_both_channels_agree():
    images = _images(64)
    out = Augment(p=1.0, clutter_max=1.0, amplitude_std=0.0, depth_std=0.0).apply(
        images, ("amplitude", "depth"), torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :, 2:6, 2:6], images[:, :, 2:6, 2:6])  # no jitter asked: face untouched
    lit_amp, lit_depth = out[:, 0] > 0, out[:, 1] > 0
    assert lit_amp.sum() > 64 * 16 * 1.2  # clutter appeared around the faces
    assert (lit_amp & ~lit_depth).float().mean() < 0.01  # a clutter pixel has a depth too
    assert out[:, 0][~(images[:, 0] > 0)].max() <= 0.5  # clutter_level bounds its amplitude


def test_face_jitter_has_the_requested_spread():
    images = _images(256, 1)
    out = Augment(p=1.0, clutter_max=0.0, amplitude_std=0.0, depth_std=0.05).apply(
        images, ("depth",), torch.Generator().manual_seed(0))
    delta = (out - images)[:, 0, 2:6, 2:6]
    assert abs(float(delta.std()) - 0.05) < 0.005
    assert torch.equal(out[:, 0, 0], images[:, 0, 0])  # no clutter asked: background untouched


def test_p_zero_is_identity():
    images = _images()
    assert torch.equal(Augment(p=0.0).apply(images, ("amplitude", "depth")), images)


@pytest.mark.parametrize("bad, match", [
    (dict(p=1.5), "Augment.p"), (dict(depth_std=-0.1), "depth_std"), (dict(clutter_max="a"), "clutter_max"),
])
def test_bad_settings_are_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        Augment(**bad)


def test_from_config_rejects_unknown_keys():
    assert Augment.from_config({"p": 0.2}).p == 0.2
    with pytest.raises(ValueError, match="unknown augmentation setting.*noise"):
        Augment.from_config({"noise": 0.1})


def test_bad_images_are_clear_errors():
    aug = Augment()
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        aug.apply(torch.zeros(2, 8, 8), ("amplitude",))
    with pytest.raises(ValueError, match="must name each"):
        aug.apply(_images(), ("amplitude",))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        aug.apply(_images() * 2, ("amplitude", "depth"))
    bad = _images(); bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        aug.apply(bad, ("amplitude", "depth"))


def test_augmented_loss_randomises_in_training_only():
    seen = []
    loss = augmented_loss(lambda model, batch: seen.append(batch[0].clone()) or (torch.zeros(()), {}),
                          Augment(p=1.0, clutter_max=1.0), ("amplitude", "depth"))
    model = torch.nn.Identity()
    images = _images()
    loss(model.eval(), (images,))
    loss(model.train(), (images,))
    assert torch.equal(seen[0], images) and not torch.equal(seen[1], images)
