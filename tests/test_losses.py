"""The losses: the image loss, the encoder's parameter loss, the decoder's and the autoencoder's, rendered samples."""

import numpy as np
import pytest
import torch
from torch import nn

from radarface import metrics
from radarface.facemodel import load_model
from radarface import train
from radarface.losses import ImageLoss, autoencoder_loss, decoder_loss, image_loss, parameter_loss
from radarface.models import Autoencoder, Encoder, LearnedRenderer

SLICES = {"shape": slice(0, 10), "expression": slice(10, 17), "pose": slice(17, 23)}


def _pair(seed=0, n_render=4):
    """A tiny encoder (3 + 2 + 6 = 11 outputs) and a learned renderer of 11 + ``n_render`` parameters."""
    with train.seeded(seed):
        encoder = Encoder(2, 16, 3, 2, backbone="tiny")
        decoder = LearnedRenderer(11 + n_render, 2, 16, backbone="tiny").eval()
    return encoder, decoder


def _data(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, 16, 16, generator=g), torch.randn(n, 15, generator=g)


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


def test_image_loss_known_answers():
    target = torch.zeros(2, 2, 4, 4)
    target[:, :, :2] = 0.5  # top half foreground, bottom half background (0)
    assert float(image_loss(target, target)) == 0.0
    assert float(image_loss(target + 0.1, target)) == pytest.approx(0.01)
    # a constant error stays its square whatever the weights
    assert float(image_loss(target + 0.1, target, depth_channels=(1,), background_weight=0.1)) == pytest.approx(0.01)
    # error only on the background of the depth channel
    pred = target.clone()
    pred[:, 1, 2:] = 0.2
    assert float(image_loss(pred, target)) == pytest.approx(0.04 / 2 / 2)  # half the pixels, one of two channels
    assert float(image_loss(pred, target, depth_channels=(1,), background_weight=0.0)) == 0.0
    w = 0.25  # background weighs w: 0.04·8w / (8 + 8w), averaged with a perfect amplitude channel
    expected = 0.04 * 8 * w / (8 + 8 * w) / 2
    assert float(image_loss(pred, target, depth_channels=(1,), background_weight=w)) == pytest.approx(expected)
    # the weight applies to depth channels only
    assert float(image_loss(pred, target, depth_channels=(0,), background_weight=0.0)) == pytest.approx(0.01)


def test_depth_weight_weighs_the_depth_channel_against_the_others():
    target = torch.rand(3, 2, 4, 4) * 0.8 + 0.1  # no background pixels
    pred = target + torch.tensor([0.1, 0.3]).view(1, 2, 1, 1)  # squared errors 0.01 and 0.09
    assert float(image_loss(pred, target, depth_channels=(1,))) == pytest.approx(0.05)
    assert float(image_loss(pred, target, depth_channels=(1,), depth_weight=0.25)) == pytest.approx(0.026)
    assert float(image_loss(pred, target, depth_channels=(1,), depth_weight=0.0)) == pytest.approx(0.01)
    assert float(image_loss(pred, target, depth_weight=0.0)) == pytest.approx(0.05)  # no depth channel named
    depth_only = pred[:, 1:], target[:, 1:]
    assert float(image_loss(*depth_only, depth_channels=(0,), depth_weight=0.0)) == pytest.approx(0.09)


def test_depth_scale_makes_depth_errors_squared_below_it_and_linear_above_it():
    target = torch.full((1, 2, 4, 4), 0.5)
    small, large = target.clone(), target.clone()
    small[:, 1] += 0.001  # well below the scale: the squared error
    large[:, 1] += 0.5  # 25 scales: about 2·δ·|e| instead of e²
    assert float(image_loss(small, target, depth_channels=(1,), depth_scale=0.02)) == pytest.approx(
        float(image_loss(small, target, depth_channels=(1,))), rel=1e-3)
    robust = float(image_loss(large, target, depth_channels=(1,), depth_scale=0.02))
    assert robust == pytest.approx(0.5 * 2 * 0.02 ** 2 * (np.sqrt(1 + 25 ** 2) - 1), rel=1e-5)
    assert robust < 0.1 * float(image_loss(large, target, depth_channels=(1,)))
    amplitude = target.clone()
    amplitude[:, 0] += 0.5  # the amplitude channel keeps its squared error
    assert float(image_loss(amplitude, target, depth_channels=(1,), depth_scale=0.02)) == pytest.approx(0.125)
    with pytest.raises(ValueError, match="depth_scale must be > 0"):
        image_loss(target, target, depth_channels=(1,), depth_scale=0.0)


def test_image_loss_per_image_and_module():
    torch.manual_seed(0)
    pred, target = torch.rand(3, 2, 8, 8), torch.rand(3, 2, 8, 8)
    per = image_loss(pred, target, reduction="none", depth_channels=(1,), background_weight=0.3)
    assert per.shape == (3,)
    assert float(per.mean()) == pytest.approx(float(image_loss(pred, target, depth_channels=(1,),
                                                               background_weight=0.3)))
    assert float(ImageLoss(depth_channels=(1,), background_weight=0.3)(pred, target)) == pytest.approx(float(per.mean()))


def test_image_loss_errors():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\), got \(2, 8, 8\)"):
        image_loss(torch.zeros(2, 8, 8), torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="background_weight and depth_weight must be >= 0"):
        image_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), background_weight=-1)
    with pytest.raises(ValueError, match="background_weight and depth_weight must be >= 0"):
        image_loss(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2), depth_channels=(1,), depth_weight=-0.5)
    with pytest.raises(ValueError, match="outside the 1 channels"):
        image_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), depth_channels=(1,))


def test_decoder_loss_renders_the_targets_and_logs_each_channel():
    torch.manual_seed(0)
    model = LearnedRenderer(5, 2, 16, backbone="tiny")
    images, targets = torch.rand(4, 2, 16, 16), torch.randn(4, 5)
    loss, logs = decoder_loss("both", background_weight=0.5)(model, (images, targets))
    assert set(logs) == {"amplitude", "depth"}
    with torch.no_grad():
        expected = float(image_loss(model(targets), images, depth_channels=(1,), background_weight=0.5))
    assert float(loss.detach()) == pytest.approx(expected)
    with pytest.raises(ValueError, match="does not match images"):
        decoder_loss("amplitude")(model, (images[:, :1, :8], targets))


def test_training_with_the_shared_loop_lowers_the_image_loss():
    g = torch.Generator().manual_seed(0)
    targets = torch.randn(32, 4, generator=g)
    # images whose brightness follows the first parameter: learnable
    images = torch.sigmoid(targets[:, :1, None, None]).expand(32, 1, 16, 16).contiguous()
    with train.seeded(0):
        model = LearnedRenderer(4, 1, 16, backbone="tiny")
    result = train.fit(model, decoder_loss("amplitude"), (images, targets), epochs=5, batch_size=8, lr=0.01,
                       threads=1, progress=False)
    assert result.history["train_loss"][-1] < 0.5 * result.history["train_loss"][0]


def test_loss_is_image_loss_plus_lambda_times_parameter_loss():
    encoder, decoder = _pair()
    model = Autoencoder(encoder, decoder).eval()
    images, targets = _data(4)
    with torch.no_grad():
        encoded = encoder(images)
        img = float(image_loss(decoder(torch.cat([encoded, targets[:, 11:]], 1)), images, depth_channels=(1,),
                               background_weight=0.2))
        param = float(((encoded - targets[:, :11]) ** 2).mean())
        for lam in (0.0, 1.0, 2.5):
            loss, logs = autoencoder_loss("both", param_weight=lam, background_weight=0.2)(model, (images, targets))
            assert float(loss) == pytest.approx(img + lam * param, rel=1e-6)
            assert logs["image"] == pytest.approx(img, rel=1e-6) and logs["param"] == pytest.approx(param, rel=1e-6)
    with pytest.raises(ValueError, match="param_weight must be >= 0"):
        autoencoder_loss("both", param_weight=-1.0)


def test_parameter_term_is_the_encoders_loss_with_its_vertex_metric():


    encoder, decoder = _pair()
    model = Autoencoder(encoder, decoder).eval()
    images, targets = _data(4)
    a = torch.randn(5, 5, generator=torch.Generator().manual_seed(3))
    metric = a @ a.T + torch.eye(5)  # 3 shape + 2 expression coefficients
    slices = {"shape": slice(0, 3), "expression": slice(3, 5), "pose": slice(5, 11)}
    with torch.no_grad():
        expected, _ = parameter_loss(slices, metric)(encoder, (images, targets[:, :11]))
        _, logs = autoencoder_loss("both", metric=metric)(model, (images, targets))
        _, plain = autoencoder_loss("both")(model, (images, targets))
    assert logs["param"] == pytest.approx(float(expected), rel=1e-6)
    assert logs["param"] != pytest.approx(plain["param"], rel=1e-3)
