"""The learned renderer: shapes and ranges per backbone, the paper configuration, errors, channel order."""

import pytest
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

from radarface.models import LearnedRenderer, depth_channels


@pytest.mark.parametrize("backbone", ["tiny", "resnet18-narrow"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("size", [32, 64])
def test_output_shape_and_range(backbone, channels, size):
    torch.manual_seed(0)
    model = LearnedRenderer(27, channels, size, backbone=backbone)
    with torch.no_grad():
        out = model(3 * torch.randn(4, 27))
    assert out.shape == (4, channels, size, size)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    # the encoder's last map: 4×4 for the ResNets; the tiny CNN reduces by 8
    assert model.start_size == (size // 8 if backbone == "tiny" else 4)


def test_sizes_that_are_not_a_power_of_two_are_resized_at_the_end():
    assert LearnedRenderer(27, 1, 48, backbone="tiny")(torch.zeros(2, 27)).shape == (2, 1, 48, 48)
    assert LearnedRenderer(27, 1, 40, backbone="resnet18-narrow")(torch.zeros(2, 27)).shape == (2, 1, 40, 40)


def test_paper_configuration_runs_forward_and_backward_at_a_tiny_size():
    model = LearnedRenderer(27, 2, 16, backbone="resnet50")
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16  # ResNet-50's 3 + 4 + 6 + 3 bottleneck blocks, in reverse
    assert model.stages[0][1].conv3.out_channels == 2048 and model.stages[-1][-1].conv3.out_channels == 256
    out = model(torch.randn(2, 27))
    assert out.shape == (2, 2, 16, 16)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) > 20_000_000


def test_narrow_backbone_mirrors_the_encoders_basic_blocks():
    model = LearnedRenderer(27, 1, 64, backbone="resnet18-narrow")
    widths = [m.conv2.out_channels for m in model.modules() if isinstance(m, BasicBlock)]
    assert widths == [128, 128, 64, 64, 32, 32, 16, 16]


def test_constructor_and_input_errors_name_what_was_got():
    with pytest.raises(ValueError, match="backbone must be one of"):
        LearnedRenderer(27, 1, 32, backbone="vgg")
    with pytest.raises(ValueError, match="out_channels must be 1"):
        LearnedRenderer(27, 3, 32, backbone="tiny")
    with pytest.raises(ValueError, match="n_params must be a positive integer, got 0"):
        LearnedRenderer(0, 1, 32, backbone="tiny")
    with pytest.raises(ValueError, match="image_size"):
        LearnedRenderer(27, 1, 8, backbone="tiny")
    with pytest.raises(ValueError, match=r"params must be \(B, 27\), got \(2, 23\)"):
        LearnedRenderer(27, 1, 32, backbone="tiny")(torch.zeros(2, 23))


def test_depth_channels_follow_the_datasets_channel_order():
    assert depth_channels("both") == (1,) and depth_channels("depth") == (0,)
    assert depth_channels("amplitude") == ()
    with pytest.raises(ValueError, match="inputs must be one of"):
        depth_channels("phase")
