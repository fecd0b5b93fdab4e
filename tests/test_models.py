"""The encoder and its backbones: shapes, output ranges, the paper configuration, errors."""

import pytest
import torch
from torchvision.models.resnet import Bottleneck

from radarface.models import Encoder, EncoderEnsemble, backbones, count_parameters
from radarface.models.encoder import DEPTH_RELIEF_SCALE, centred_depth

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


def test_centred_depth_moves_each_faces_mean_depth_to_zero_scales_its_relief_and_keeps_the_background():
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


def test_ensemble_averages_its_members_and_keeps_their_layout():
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
    double = Encoder(2, 64, 10, 7, backbone="vgg-average", center_depth=1).heads["all"]
    convs = [m for m in double.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64, 128, 128, 256, 256] and double.fc.in_features == 256
    assert double(torch.rand(2, 3, 64, 64)).shape == (2, 23)
    with pytest.raises(ValueError, match="convs"):
        backbones.plain_cnn(1, 5, 64, convs=0)
    with pytest.raises(ValueError, match="plain"):
        Encoder(1, 32, 10, 7, backbone="nope")


@pytest.mark.parametrize("channels", [1, 2])
def test_plain_cnn_runs_channels_last_also_on_one_channel_images(channels):
    net = backbones.plain_cnn(channels, 5, 32, width=8, blocks=2, pool="average", convs=1)
    seen = []
    net.features[0].register_forward_hook(lambda module, args, out: seen.append(out))
    net(torch.rand(2, channels, 32, 32))
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and not seen[0].is_contiguous()


def test_bfloat16_encoder_trains_in_mixed_precision_and_returns_float32():
    torch.manual_seed(0)
    full = Encoder(2, 32, 10, 7, backbone="tiny-shared")
    torch.manual_seed(0)
    mixed = Encoder(2, 32, 10, 7, backbone="tiny-shared", precision="bfloat16")
    images = torch.rand(4, 2, 32, 32)
    out = mixed(images)
    assert out.dtype == torch.float32 and all(p.dtype == torch.float32 for p in mixed.parameters())
    reference = full(images)
    # the same weights: bfloat16 keeps about 3 significant digits
    assert torch.allclose(out, reference, rtol=0.05, atol=0.05) and not torch.equal(out, reference)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in mixed.parameters())
    with pytest.raises(ValueError, match="precision must be one of"):
        Encoder(2, 32, 10, 7, backbone="tiny", precision="half")


def test_an_exported_architecture_rebuilds_the_encoders_precision():
    from radarface.weights import build_encoder_from, encoder_architecture

    for precision in ("float32", "bfloat16"):
        encoder = Encoder(2, 32, 10, 7, backbone="tiny-shared", precision=precision)
        assert build_encoder_from(encoder_architecture(encoder)).precision == precision
    older = encoder_architecture(Encoder(1, 32, 10, 7, backbone="tiny"))
    del older["members"][0]["precision"]  # weights exported before the setting existed
    assert build_encoder_from(older).precision == "float32"
