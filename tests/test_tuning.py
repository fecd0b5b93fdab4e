"""Choosing the test-time settings on validation images: traces per learning rate, the blend curve, the command."""

import pytest

from radarface import facemodel, profiles
from radarface.experiments import tuning
from radarface.experiments.fitting import decoder_data, fit_decoder
from radarface.experiments.settings import RendererSettings


def test_best_refinement_picks_the_lowest_traced_vertex_distance():
    traces = {0.01: {"step": [0, 1, 2], "vertex_mm": [5.0, 4.0, 3.5]},
              0.1: {"step": [0, 1, 2], "vertex_mm": [5.0, 3.0, 3.2]}}
    assert tuning.best_refinement(traces) == (0.1, 1, 3.0)
    with pytest.raises(ValueError, match="no vertex distance"):
        tuning.best_refinement({0.1: {"step": [0], "image_loss": [1.0]}})
    with pytest.raises(ValueError, match="no traces"):
        tuning.best_refinement({})


def test_tune_command_compares_learning_rates_on_validation_images(capsys):
    assert tuning.main(["tune", "--profile", "smoke", "--lrs", "0.01,0.1", "--steps", "2", "--images", "4"]) == 0
    out = capsys.readouterr().out
    assert "first 4 validation images" in out and "lr 0.01:" in out and "lr 0.1:" in out
    assert "best: lr" in out
    # (b) on minibatches traces once per pass over the images, not every step
    assert tuning.main(["tune", "--profile", "smoke", "--method", "b", "--lrs", "1e-3", "--steps", "3", "--images", "4",
                        "--set", "tta_encoder_batch=2"]) == 0
    assert "best: lr 0.001" in capsys.readouterr().out
    assert tuning.main(["tune", "--profile", "smoke", "--lrs", "0.01,-1", "--steps", "2"]) == 2
    assert "learning rates > 0" in capsys.readouterr().err


def test_blend_command_spans_the_autoencoder_and_refinement_a(capsys):
    cfg = profiles.resolve("smoke")
    face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
    decoder, fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg), progress=False)
    curve = tuning.tune_blend(cfg, "both", decoder, face, decoder_checkpoint=fit.checkpoint, weights=[0.0, 1.0],
                          n_images=4, progress=False)
    traces = tuning.tune_refinement(cfg, "both", decoder, face, decoder_checkpoint=fit.checkpoint, lrs=[cfg["tta_lr"]],
                                steps=cfg["tta_steps"], n_images=4, progress=False)
    trace = traces[float(cfg["tta_lr"])]
    assert curve[0.0] == pytest.approx(trace["vertex_mm"][0])  # weight 0: the autoencoder's own prediction
    assert curve[1.0] == pytest.approx(trace["vertex_mm"][-1])  # weight 1: (a) after its last step
    assert tuning.main(["blend", "--profile", "smoke", "--weights", "0,0.5,1", "--images", "4"]) == 0
    out = capsys.readouterr().out
    assert "weight 0.5:" in out and "best: weight" in out
    assert tuning.main(["blend", "--profile", "smoke", "--weights", "0.5,2"]) == 2
    assert "weights in [0, 1]" in capsys.readouterr().err
