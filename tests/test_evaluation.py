"""The methods by name on test images: predictions, the prior's columns, blending."""

import numpy as np

from radarface import profiles
from radarface.experiments import evaluation as ev
from radarface.experiments.fitting import decoder_data, fit_decoder, trained_networks
from radarface.experiments.settings import RefinementSettings, RendererSettings


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
