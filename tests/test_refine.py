"""Test-time analysis by synthesis: (a) parameters and (b) encoder fine-tuning through a frozen decoder."""

import numpy as np
import pytest
import torch
from torch import nn

from radarface import refine
from radarface.facemodel import load_model
from radarface.losses import image_loss
from radarface.models import LearnedRenderer, SelectChannels


class LinearDecoder(nn.Module):
    """images (B, 1, 4, 4) = W p + b: a toy renderer whose inverse problem has one answer."""

    def __init__(self, d=5, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(d, 16)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(16, d, generator=g) / 4)
            self.lin.bias.fill_(0.5)
        self.n_params = d

    def forward(self, p):
        return self.lin(p).view(-1, 1, 4, 4)


def _truth(b=6, d=5, seed=1):
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed))


def test_refine_parameters_recovers_known_parameters_of_a_linear_decoder():
    decoder = LinearDecoder()
    truth = _truth()
    with torch.no_grad():
        images = decoder(truth)
    result = refine.refine_parameters(decoder, images, torch.zeros_like(truth), steps=300, lr=0.05, prior_weight=0.0)
    np.testing.assert_allclose(result.params.numpy(), truth.numpy(), atol=0.02)
    trace = result.trace
    assert trace["step"] == list(range(301)) and len(trace["image_loss"]) == 301
    assert trace["image_loss"][-1] < 1e-4 * trace["image_loss"][0]


def test_refinement_lowers_the_image_loss_through_a_learned_renderer_and_leaves_it_unchanged():
    torch.manual_seed(0)
    decoder = LearnedRenderer(6, 2, 16, backbone="tiny").eval()
    before = {k: v.clone() for k, v in decoder.state_dict().items()}
    truth = _truth(4, 6)
    with torch.no_grad():
        images = decoder(truth)
    result = refine.refine_parameters(decoder, images, torch.zeros(4, 6), steps=20, lr=0.05, threads=1,
                                      depth_channels=(1,), background_weight=0.1)
    assert result.trace["image_loss"][-1] < 0.5 * result.trace["image_loss"][0]
    assert all(torch.equal(before[k], v) for k, v in decoder.state_dict().items())
    assert all(p.requires_grad for p in decoder.parameters()) and all(p.grad is None for p in decoder.parameters())
    # the trace's loss is the image loss of the returned vectors
    with torch.no_grad():
        final = image_loss(decoder(result.params), images, depth_channels=(1,), background_weight=0.1)
    assert float(final) == pytest.approx(result.trace["image_loss"][-1], rel=1e-5)


def test_depth_weight_zero_refines_as_if_only_the_amplitude_were_given():
    torch.manual_seed(0)
    decoder = LearnedRenderer(6, 2, 16, backbone="tiny").eval()
    with torch.no_grad():
        images = decoder(_truth(4, 6))
    options = dict(steps=5, lr=0.05, threads=1, prior_weight=1e-3)
    both = refine.refine_parameters(decoder, images, torch.zeros(4, 6), depth_channels=(1,), depth_weight=0.0,
                                    **options)
    amplitude = refine.refine_parameters(SelectChannels(decoder, [0]), images[:, :1], torch.zeros(4, 6), **options)
    torch.testing.assert_close(both.params, amplitude.params)
    equal = refine.refine_parameters(decoder, images, torch.zeros(4, 6), depth_channels=(1,), **options)
    assert not torch.allclose(equal.params, amplitude.params)


def test_prior_pulls_toward_zero_when_the_image_says_nothing():
    class Blind(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.zeros(1))

        def forward(self, p):
            return self.scale * p[:, :1, None, None].expand(-1, 1, 4, 4)

    init = torch.full((3, 4), 2.0)
    images = torch.zeros(3, 1, 4, 4)
    free = refine.refine_parameters(Blind(), images, init, steps=50, lr=0.05, prior_weight=0.0)
    pulled = refine.refine_parameters(Blind(), images, init, steps=50, lr=0.05, prior_weight=1.0)
    assert torch.equal(free.params, init)
    assert float(pulled.params.abs().max()) < 1.0
    assert pulled.trace["prior"][-1] < pulled.trace["prior"][0] == pytest.approx(4.0)


def test_fixed_columns_keep_their_values_and_stay_out_of_the_prior():
    decoder = LinearDecoder()
    truth = _truth()
    with torch.no_grad():
        images = decoder(truth)
    init = truth.clone()
    init[:, :3] = 0.0
    free = np.array([True, True, True, False, False])
    result = refine.refine_parameters(decoder, images, init, steps=300, lr=0.05, prior_weight=0.0, free=free)
    assert torch.equal(result.params[:, 3:], truth[:, 3:])
    np.testing.assert_allclose(result.params[:, :3].numpy(), truth[:, :3].numpy(), atol=0.02)
    sliced = refine.refine_parameters(decoder, images, init, steps=3, lr=0.05, free=slice(0, 3))
    assert sliced.trace["prior"][0] == 0.0  # only the zeroed free columns count


def test_prior_centred_on_the_start_holds_the_start_when_the_image_says_nothing():
    decoder = LinearDecoder()
    with torch.no_grad():
        decoder.lin.weight.zero_()  # blind: every vector draws the same image
    init = torch.full((3, 5), 2.0)
    images = torch.zeros(3, 1, 4, 4)
    kept = refine.refine_parameters(decoder, images, init, steps=30, lr=0.05, prior_weight=1.0, prior_center="start")
    pulled = refine.refine_parameters(decoder, images, init, steps=30, lr=0.05, prior_weight=1.0)
    assert torch.equal(kept.params, init) and kept.trace["prior"] == [0.0] * 31
    assert float(pulled.params.abs().max()) < 1.5
    with pytest.raises(ValueError, match=r"prior_center must be one of \('zero', 'start'\), got 'encoder'"):
        refine.refine_parameters(decoder, images, init, steps=1, prior_center="encoder")


def test_prior_columns_pull_only_the_columns_named():
    decoder = LinearDecoder()
    images = torch.zeros(3, 1, 4, 4)
    init = torch.full((3, 5), 2.0)
    all_free = refine.refine_parameters(decoder, images, init, steps=0, prior_weight=1.0)
    some = refine.refine_parameters(decoder, images, init, steps=0, prior_weight=1.0, prior=[True, True] + [False] * 3)
    assert all_free.trace["prior"][0] == pytest.approx(4.0) and some.trace["prior"][0] == pytest.approx(4.0)
    init[:, 2:] = 10.0  # columns outside the prior do not count in it
    some = refine.refine_parameters(decoder, images, init, steps=0, prior_weight=1.0, prior=slice(0, 2))
    assert some.trace["prior"][0] == pytest.approx(4.0)
    # a mask of the first columns only (e.g. the encoder's outputs) leaves the rest out
    short = refine.refine_parameters(decoder, images, init, steps=0, prior=[True, True], free=slice(0, 3))
    assert short.trace["prior"][0] == pytest.approx(4.0)
    with pytest.raises(ValueError, match=r"prior columns \[4\] are not free"):
        refine.refine_parameters(decoder, images, init, steps=1, free=slice(0, 4), prior=slice(2, 5))
    with pytest.raises(ValueError, match="prior must be a boolean mask of the 5 columns"):
        refine.refine_parameters(decoder, images, init, steps=1, prior=[True] * 7)


def test_cosine_schedule_ends_with_smaller_steps_than_constant():
    decoder = LinearDecoder()
    truth = _truth()
    with torch.no_grad():
        images = decoder(truth)
    runs = {s: refine.refine_parameters(decoder, images, torch.zeros_like(truth), steps=40, lr=0.2, prior_weight=0.0,
                                        lr_schedule=s, tracer=lambda v: float(np.abs(v).sum()))
            for s in ("constant", "cosine")}
    moves = {s: abs(r.trace["vertex_mm"][-1] - r.trace["vertex_mm"][-2]) for s, r in runs.items()}
    assert moves["cosine"] < 0.1 * moves["constant"]
    with pytest.raises(ValueError, match=r"lr_schedule must be one of \('constant', 'cosine'\), got 'step'"):
        refine.refine_parameters(decoder, images, torch.zeros_like(truth), steps=1, lr_schedule="step")


def test_refinement_is_deterministic_and_chunking_does_not_change_it():
    torch.manual_seed(0)
    decoder = LearnedRenderer(6, 1, 16, backbone="tiny").eval()
    images = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    runs = [refine.refine_parameters(decoder, images, torch.zeros(5, 6), steps=5, chunk=c, threads=1)
            for c in (256, 256, 2)]
    assert torch.equal(runs[0].params, runs[1].params) and runs[0].trace == runs[1].trace
    torch.testing.assert_close(runs[0].params, runs[2].params, atol=1e-6, rtol=0)


def _encoder_problem(n):
    """A linear decoder, n images of known parameters, and a linear encoder of the first 3 of them."""
    decoder = LinearDecoder(d=5)
    truth = _truth(n, 5)
    with torch.no_grad():
        images = decoder(truth)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    return decoder, truth, images, encoder


def test_finetune_encoder_lowers_the_image_loss_and_changes_only_the_encoder():
    decoder, truth, images, encoder = _encoder_problem(8)
    given = truth[:, 3:]
    before_enc = [p.clone() for p in encoder.parameters()]
    before_dec = [p.clone() for p in decoder.parameters()]
    result = refine.finetune_encoder(encoder, decoder, images, steps=100, lr=0.02, prior_weight=0.0, given=given)
    assert result.params.shape == (8, 5) and torch.equal(result.params[:, 3:], given)
    assert result.trace["image_loss"][-1] < 0.2 * result.trace["image_loss"][0]
    assert any(not torch.equal(a, b) for a, b in zip(before_enc, encoder.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(before_dec, decoder.parameters()))
    assert not encoder.training
    with torch.no_grad():
        torch.testing.assert_close(result.params[:, :3], encoder(images))


def test_finetune_encoder_prior_covers_the_encoder_columns_named():
    decoder, truth, images, encoder = _encoder_problem(4)
    runs = [refine.finetune_encoder(encoder, decoder, images, steps=0, given=truth[:, 3:], prior=p)
            for p in (None, [True, False, False])]
    out = runs[0].params[:, :3]
    assert runs[0].trace["prior"][0] == pytest.approx(float(out.square().mean()), rel=1e-5)
    assert runs[1].trace["prior"][0] == pytest.approx(float(out[:, 0].square().mean()), rel=1e-5)


def _finetune_minibatches(batch_size, steps=60, seed=0):
    decoder, truth, images, encoder = _encoder_problem(10)
    return refine.finetune_encoder(encoder, decoder, images, steps=steps, lr=0.02, prior_weight=0.0,
                                   given=truth[:, 3:], batch_size=batch_size, seed=seed, threads=1), encoder, images


def test_finetune_encoder_on_minibatches_traces_once_per_pass_and_repeats_with_its_seed():
    result, encoder, images = _finetune_minibatches(4, steps=60)
    # 10 images in batches of 4: 3 steps per pass over the images, and the last step traced too
    assert result.trace["step"] == list(range(0, 60, 3)) + [60]
    assert result.trace["image_loss"][-1] < 0.2 * result.trace["image_loss"][0]
    with torch.no_grad():
        torch.testing.assert_close(result.params[:, :3], encoder(images))
    again, _, _ = _finetune_minibatches(4, steps=60)
    assert torch.equal(again.params, result.params)
    other, _, _ = _finetune_minibatches(4, steps=60, seed=1)
    assert not torch.equal(other.params, result.params)
    full, _, _ = _finetune_minibatches(None, steps=5)
    assert full.trace["step"] == [0, 1, 2, 3, 4, 5]
    assert torch.equal(_finetune_minibatches(10, steps=5)[0].params, full.params)  # one batch of all = full batch
    with pytest.raises(ValueError, match="batch_size must be None"):
        _finetune_minibatches(0)


def test_vertex_tracer_is_zero_at_the_truth_and_traced_per_step():
    face = load_model("builtin")
    d = face.n_shape + face.n_expression
    denormalise = lambda v: {"shape": v[..., :face.n_shape], "expression": v[..., face.n_shape:]}  # noqa: E731
    truth = np.zeros((2, d))
    truth[:, 0] = 1.0
    tracer = refine.vertex_tracer(face, truth, denormalise)
    assert tracer(truth) == 0.0 and tracer(np.zeros_like(truth)) > 0.1
    decoder = LinearDecoder(d=d)
    with torch.no_grad():
        images = decoder(torch.as_tensor(truth, dtype=torch.float32))
    result = refine.refine_parameters(decoder, images, torch.zeros(2, d), steps=3, lr=0.1, tracer=tracer)
    assert len(result.trace["vertex_mm"]) == 4 and result.trace["vertex_mm"][0] == pytest.approx(tracer(truth * 0))
    with pytest.raises(ValueError, match="do not match the true targets"):
        tracer(np.zeros((3, d)))


def test_refine_errors_name_what_was_got():
    decoder = LinearDecoder()
    images = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"images must be a tensor \(B, C, H, W\)"):
        refine.refine_parameters(decoder, images[0], torch.zeros(2, 5), steps=1)
    with pytest.raises(ValueError, match=r"init_params must be \(B, D\) with B = 2 images, got \(3, 5\)"):
        refine.refine_parameters(decoder, images, torch.zeros(3, 5), steps=1)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        refine.refine_parameters(decoder, images, torch.zeros(2, 5), steps=-1)
    with pytest.raises(ValueError, match="boolean mask of the 5 columns"):
        refine.refine_parameters(decoder, images, torch.zeros(2, 5), steps=1, free=[True, False])
    with pytest.raises(ValueError, match=r"given must be \(B, R\) with B = 2"):
        refine.finetune_encoder(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), decoder, images, steps=1,
                                given=torch.zeros(3, 2))


def test_blend_is_the_weighted_mean_of_start_and_refined():
    rng = np.random.default_rng(0)
    start, refined = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    np.testing.assert_array_equal(refine.blend(start, refined, 0.0), start)
    np.testing.assert_array_equal(refine.blend(start, refined, 1.0), refined)
    np.testing.assert_allclose(refine.blend(start, refined, 0.3), start + 0.3 * (refined - start))
    with pytest.raises(ValueError, match="same shape"):
        refine.blend(start, refined[:, :3], 0.5)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"in \[0, 1\]"):
            refine.blend(start, refined, bad)
