"""The learned renderer: shapes and ranges per backbone, the paper configuration, the image loss, helpers."""

import numpy as np
import pytest
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

from radarface import profiles, train
from radarface.models import ImageLoss, LearnedRenderer, build_decoder, decoder_loss, decoder_run_name, image_loss
from radarface.models import decoder as dec


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


# ---------------------------------------------------------------- the loss
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


def test_depth_channels_follow_the_datasets_channel_order():
    assert dec.depth_channels("both") == (1,) and dec.depth_channels("depth") == (0,)
    assert dec.depth_channels("amplitude") == ()
    with pytest.raises(ValueError, match="inputs must be one of"):
        dec.depth_channels("phase")


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


def test_build_decoder_is_seeded_and_the_run_name_covers_the_loss_weight():
    cfg = profiles.resolve("smoke")
    a, b = build_decoder(cfg, 27, 2), build_decoder(cfg, 27, 2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    other = profiles.resolve("smoke", decoder_background_weight=1.0)
    assert decoder_run_name(cfg, "both", "d.h5") != decoder_run_name(other, "both", "d.h5")
    assert decoder_run_name(cfg, "both", "d.h5").startswith("decoder_both_")


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


# ------------------------------------------------------- analysis helpers
def test_sensitivity_of_a_linear_renderer_is_its_coefficients():
    coeff = np.arange(6.0).reshape(3, 1, 1, 2)  # D = 3 parameters, images 1×1×2
    render_fn = lambda v: np.einsum("bd,dchw->bchw", v, coeff) + 1.0  # noqa: E731
    maps = dec.sensitivity(render_fn, np.array([0.3, -1.0, 2.0]), step=0.5)
    np.testing.assert_allclose(maps, coeff)
    summary = dec.sensitivity_summary(maps, 2 * maps)
    np.testing.assert_allclose(summary["correlation"], 1.0)
    np.testing.assert_allclose(summary["physics_rms"], 2 * summary["decoder_rms"])
    with pytest.raises(ValueError, match="base must be a vector"):
        dec.sensitivity(render_fn, np.zeros((2, 3)))


def test_decoder_render_fn_and_timing():
    model = LearnedRenderer(5, 1, 16, backbone="tiny").eval()
    vectors = torch.randn(4, 5)
    images = dec.decoder_render_fn(model)(vectors.numpy())
    assert images.shape == (4, 1, 16, 16) and images.dtype == np.float32
    seconds = dec.time_learned_renderer(model, vectors, batch_size=2, repeats=1)
    assert 0 < seconds < 1


# ------------------------------------------------------------------ plots
def test_plot_helpers_draw_headless_and_check_their_inputs():
    import matplotlib.pyplot as plt

    from radarface.plots import decoder as dplots

    rng = np.random.default_rng(0)
    images = rng.random((3, 2, 8, 8))
    axes = dplots.plot_decoder_comparison(images, images * 0.9, ("amplitude", "depth"))
    assert axes.shape == (3, 6)
    with pytest.raises(ValueError, match=r"physics must be \(N, 2, H, W\)"):
        dplots.plot_decoder_comparison(images[:, :1], images, ("amplitude", "depth"))
    maps = rng.standard_normal((4, 2, 8, 8))
    assert dplots.plot_sensitivity_maps(maps, maps, list("abcd"), [0, 2]).shape == (2, 2)
    dplots.plot_sensitivity_bars(dec.sensitivity_summary(maps, maps), list("abcd"), ax=plt.figure().gca())
    trace = {"step": [0, 1, 2], "image_loss": [3.0, 2.0, 1.0], "vertex_mm": [4.0, 3.9, 3.8]}
    ax = dplots.plot_refinement_traces({"(a)": trace}, "vertex_mm", reference=4.2, ax=plt.figure().gca())
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="lacks 'prior'"):
        dplots.plot_refinement_traces({"(a)": trace}, "prior")
    assert dplots.plot_refinement_images(images, {"x": images}, [0, 2], ("amplitude", "depth")).shape == (2, 4)
    assert len(dplots.plot_timings({"learned": 1e-3, "physics": 80.0}, ax=plt.figure().gca()).patches) == 2
    plt.close("all")


def test_plot_blend_curve_marks_the_chosen_weight():
    import matplotlib.pyplot as plt

    from radarface.plots import decoder as dplots

    ax = dplots.plot_blend_curve({0.0: 3.3, 0.5: 2.7, 1.0: 2.9}, 0.7, ax=plt.figure().gca())
    assert list(ax.lines[0].get_xdata()) == [0.0, 0.5, 1.0] and list(ax.lines[0].get_ydata()) == [3.3, 2.7, 2.9]
    assert ax.lines[1].get_xdata()[0] == 0.7
    with pytest.raises(ValueError, match="curve is empty"):
        dplots.plot_blend_curve({})
    plt.close("all")
