"""The methods by name on test images: predictions, the prior's columns, blending."""

import numpy as np
import pytest
import torch

from radarface import profiles
from radarface.experiments import evaluation as ev
from radarface.experiments.fitting import decoder_data, fit_decoder, trained_networks
from radarface.experiments.settings import RefinementSettings, RendererSettings
from radarface.losses import image_loss
from radarface.models import depth_channels


def test_prior_mask_leaves_pose_out_only_when_asked():
    cfg = profiles.resolve("smoke")
    slices = {"shape": slice(0, cfg["n_shape"]), "expression": slice(cfg["n_shape"], cfg["n_shape"] + cfg["n_expression"])}
    assert ev.prior_mask(RefinementSettings.from_profile(cfg), slices, 20) is None
    mask = ev.prior_mask(RefinementSettings.from_profile(profiles.resolve("smoke", tta_prior_pose=False)), slices, 20)
    n_face = cfg["n_shape"] + cfg["n_expression"]
    assert mask.shape == (20,) and mask[:n_face].all() and not mask[n_face:].any()


def test_predict_methods_blends_refinement_a_with_the_autoencoder():
    cfg = profiles.resolve("smoke", tta_blend=0.25)
    decoder, fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg), progress=False)
    nets = trained_networks(cfg, "amplitude", decoder, decoder_checkpoint=fit.checkpoint, progress=False)
    images, targets = nets.data["val"].tensors()
    n_enc = nets.autoencoder.n_encoded
    preds, _, _ = ev.predict_methods(RefinementSettings.from_profile(cfg), "amplitude", nets, images[:3],
                                     targets[:3, n_enc:])
    assert list(preds) == list(ev.METHODS)
    np.testing.assert_allclose(preds[ev.BLENDED], 0.75 * preds[ev.AUTOENCODER] + 0.25 * preds[ev.REFINED])
    assert not np.allclose(preds[ev.BLENDED], preds[ev.REFINED])
    one = ev.predict_method(RefinementSettings.from_profile(cfg), "amplitude", "blended", nets.encoder,
                            nets.autoencoder, images[:3], targets[:3, n_enc:], nets.data["val"].slices)
    np.testing.assert_allclose(one, preds[ev.BLENDED])


def test_image_losses_match_the_refinement_objective_per_image_and_rank_against_the_truth():
    cfg = profiles.resolve("smoke")
    decoder, fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg), progress=False)
    nets = trained_networks(cfg, "both", decoder, decoder_checkpoint=fit.checkpoint, progress=False)
    images, targets = nets.data["val"].tensors()
    settings = RefinementSettings.from_profile(cfg)
    renderer = nets.autoencoder.renderer
    renderer.train()
    true = targets.numpy().astype(np.float64)
    pred = ev.prediction(nets.encoder, images, targets[:, nets.autoencoder.n_encoded:])
    losses = ev.image_losses(settings, "both", renderer, images, {"true parameters": true, "encoder": pred}, chunk=3)
    assert renderer.training  # left as it was found
    renderer.eval()
    with torch.no_grad():
        whole = image_loss(renderer(targets.float()), images, reduction="none", depth_channels=depth_channels("both"),
                           background_weight=settings.background_weight, depth_weight=settings.depth_weight)
    np.testing.assert_allclose(losses["true parameters"], whole.double().numpy(), rtol=1e-5)
    summary = ev.loss_against_truth(losses)
    assert summary["true parameters"]["below_truth"] == 0.0
    assert summary["encoder"]["below_truth"] == np.mean(losses["encoder"] < losses["true parameters"])
    assert summary["encoder"]["image_loss"] == pytest.approx(losses["encoder"].mean())
    with pytest.raises(ValueError, match="encoder: 2 vectors for"):
        ev.image_losses(settings, "both", renderer, images, {"encoder": pred[:2]})
