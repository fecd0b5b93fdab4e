"""The autoencoder: a frozen decoder behind a trained encoder, its loss, and the table next to the paper's."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from radarface import profiles, train
from radarface.models import Autoencoder, Encoder, LearnedRenderer, autoencoder_loss, image_loss
from radarface.models import autoencoder as ae


def _pair(seed=0, n_render=4):
    with train.seeded(seed):
        encoder = Encoder(2, 16, 3, 2, backbone="tiny")  # 3 + 2 + 6 = 11 outputs
        decoder = LearnedRenderer(11 + n_render, 2, 16, backbone="tiny").eval()
    return encoder, decoder


def _data(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, 16, 16, generator=g), torch.randn(n, 15, generator=g)


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_training_changes_the_encoder_and_leaves_the_decoder_frozen():
    encoder, decoder = _pair()
    model = Autoencoder(encoder, decoder)
    enc0, dec0 = _state(model.encoder), _state(model.decoder)
    train.fit(model, autoencoder_loss("both", background_weight=0.1), _data(), epochs=1, batch_size=6, lr=0.01,
              threads=1, progress=False)
    assert all(torch.equal(dec0[k], v) for k, v in model.decoder.state_dict().items())  # weights and BN statistics
    assert any(not torch.equal(enc0[k], v) for k, v in model.encoder.state_dict().items())
    assert not any(p.requires_grad for p in model.decoder.parameters())


def test_train_mode_keeps_the_decoder_in_eval_mode():
    model = Autoencoder(*_pair()).train()
    assert model.encoder.training and not model.decoder.training


def test_forward_completes_the_decoder_input_with_the_given_columns():
    encoder, decoder = _pair()
    model = Autoencoder(encoder, decoder).eval()
    images, targets = _data(3)
    with torch.no_grad():
        encoded, recon = model(images, targets[:, 11:])
        expected = decoder(torch.cat([encoder(images), targets[:, 11:]], 1))
    assert encoded.shape == (3, 11) and torch.equal(recon, expected)
    with pytest.raises(ValueError, match=r"predicts 11 of the decoder's 15 inputs; given must be \(B, 4\)"):
        model(images)


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
    from radarface.models import parameter_loss

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


def test_one_decoder_serves_every_input_type():
    assert ae.channels_for("amplitude") == [0] and ae.channels_for("depth") == [1]
    assert ae.channels_for("both") == [0, 1] and ae.channels_for("depth", "depth") == [0]
    with pytest.raises(ValueError, match="cannot render"):
        ae.channels_for("both", "amplitude")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        encoder = Encoder(1, 16, 3, 2, backbone="tiny")
    _, decoder = _pair()
    model = Autoencoder(encoder, decoder, channels=ae.channels_for("depth")).eval()
    images, targets = _data(2)
    with torch.no_grad():
        _, recon = model(images[:, 1:], targets[:, 11:])
        assert torch.equal(recon, decoder(torch.cat([encoder(images[:, 1:]), targets[:, 11:]], 1))[:, 1:])


def test_autoencoder_run_name_depends_on_the_networks_it_starts_from():
    cfg = profiles.resolve("smoke")
    a = ae.autoencoder_run_name(cfg, "depth", "d.h5", "encoder_depth_1", "decoder_both_1")
    b = ae.autoencoder_run_name(cfg, "depth", "d.h5", "encoder_depth_2", "decoder_both_1")
    assert a != b and a.startswith("autoencoder_depth_")


# ------------------------------------------------------------- the table
def _rows(shift=0.0):
    row = lambda mm: {"shape": 0.5, "expression": 0.6, "total_paper": 0.4, "total": 0.7, "vertex_mm": mm}  # noqa: E731
    rows = {"mean face": row(4.0), "random": row(6.0)}
    rows.update({name: row(3.0 - i * 0.2 - shift) for i, name in enumerate(ae.METHODS)})
    return rows


def test_comparison_table_has_every_paper_row_and_ours_beside_them():
    table = ae.comparison_table({"depth": _rows(), "both": _rows(0.1)})
    keys = [(r["method"], r["input"]) for r in table]
    assert all((m, i) in keys for m, i, *_ in ae.PAPER_RESULTS)
    assert keys[:2] == [("baseline: mean face", "–"), ("baseline: random", "–")]
    by_key = dict(zip(keys, table))
    depth_ae = by_key[("autoencoder", "depth")]
    assert depth_ae["paper_vertex_mm"] == 2.56 and depth_ae["paper_ratio"] == pytest.approx(2.56 / 4.42)
    assert depth_ae["ours_vertex_mm"] == pytest.approx(2.8) and depth_ae["ours_ratio"] == pytest.approx(0.7)
    assert depth_ae["ours_total"] == 0.4  # the paper's pose convention
    assert by_key[("encoder", "amplitude")]["ours_ratio"] is None  # not evaluated
    refined = by_key[(ae.METHODS[2], "amp + depth")]
    assert refined["paper_vertex_mm"] is None and refined["ours_vertex_mm"] == pytest.approx(2.5)
    text = ae.format_comparison(table)
    assert text.count("\n") == len(table) + 1 and "| – |" in text and "0.58" in text


def test_comparison_table_errors():
    with pytest.raises(ValueError, match="ours is empty"):
        ae.comparison_table({})
    with pytest.raises(ValueError, match="unknown input type"):
        ae.comparison_table({"phase": _rows()})


def test_write_comparison_goes_to_the_profiles_results(tmp_path, monkeypatch):
    monkeypatch.setenv("RADARFACE_RUNS", str(tmp_path))
    path = ae.write_comparison(ae.comparison_table({"both": _rows()}), "smoke", inputs=["both"])
    assert path == tmp_path / "smoke" / "results" / "table.json"
    saved = json.loads(path.read_text())
    # the baselines, the paper's six rows (ours for one input), our three test-time rows
    assert saved["profile"] == "smoke" and len(saved["rows"]) == 11 and saved["inputs"] == ["both"]
    assert np.isclose(saved["rows"][0]["ours_ratio"], 1.0)


def test_plot_comparison_ratios_draws_both_sources():
    import matplotlib.pyplot as plt

    from radarface.plots.decoder import plot_comparison_ratios

    table = ae.comparison_table({"both": _rows()})
    ax = plot_comparison_ratios(table, ax=plt.figure().gca())
    assert len(ax.patches) == 2 * len(table)
    plt.close("all")


def test_best_refinement_picks_the_lowest_traced_vertex_distance():
    traces = {0.01: {"step": [0, 1, 2], "vertex_mm": [5.0, 4.0, 3.5]},
              0.1: {"step": [0, 1, 2], "vertex_mm": [5.0, 3.0, 3.2]}}
    assert ae.best_refinement(traces) == (0.1, 1, 3.0)
    with pytest.raises(ValueError, match="no vertex distance"):
        ae.best_refinement({0.1: {"step": [0], "image_loss": [1.0]}})
    with pytest.raises(ValueError, match="no traces"):
        ae.best_refinement({})


def test_tune_command_compares_learning_rates_on_validation_images(capsys):
    from radarface import refine

    assert refine.main(["tune", "--profile", "smoke", "--lrs", "0.01,0.1", "--steps", "2", "--images", "4"]) == 0
    out = capsys.readouterr().out
    assert "first 4 validation images" in out and "lr 0.01:" in out and "lr 0.1:" in out
    assert "best: lr" in out
    # (b) on minibatches traces once per pass over the images, not every step
    assert refine.main(["tune", "--profile", "smoke", "--method", "b", "--lrs", "1e-3", "--steps", "3", "--images", "4",
                        "--set", "tta_encoder_batch=2"]) == 0
    assert "best: lr 0.001" in capsys.readouterr().out
    assert refine.main(["tune", "--profile", "smoke", "--lrs", "0.01,-1", "--steps", "2"]) == 2
    assert "learning rates > 0" in capsys.readouterr().err


def test_prior_mask_leaves_pose_out_only_when_asked():
    cfg = profiles.resolve("smoke")
    assert ae.prior_mask(cfg, 20) is None
    mask = ae.prior_mask(profiles.resolve("smoke", tta_prior_pose=False), 20)
    n_face = cfg["n_shape"] + cfg["n_expression"]
    assert mask.shape == (20,) and mask[:n_face].all() and not mask[n_face:].any()


def test_blend_command_spans_the_autoencoder_and_refinement_a(capsys):
    from radarface import facemodel, refine
    from radarface.models.decoder import decoder_data, fit_decoder

    cfg = profiles.resolve("smoke")
    face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
    decoder, fit = fit_decoder(cfg, decoder_data(cfg, "both"), progress=False)
    curve = ae.tune_blend(cfg, "both", decoder, face, decoder_checkpoint=fit.checkpoint, weights=[0.0, 1.0],
                          n_images=4, progress=False)
    traces = ae.tune_refinement(cfg, "both", decoder, face, decoder_checkpoint=fit.checkpoint, lrs=[cfg["tta_lr"]],
                                steps=cfg["tta_steps"], n_images=4, progress=False)
    trace = traces[float(cfg["tta_lr"])]
    assert curve[0.0] == pytest.approx(trace["vertex_mm"][0])  # weight 0: the autoencoder's own prediction
    assert curve[1.0] == pytest.approx(trace["vertex_mm"][-1])  # weight 1: (a) after its last step
    assert refine.main(["blend", "--profile", "smoke", "--weights", "0,0.5,1", "--images", "4"]) == 0
    out = capsys.readouterr().out
    assert "weight 0.5:" in out and "best: weight" in out
    assert refine.main(["blend", "--profile", "smoke", "--weights", "0.5,2"]) == 2
    assert "weights in [0, 1]" in capsys.readouterr().err


def test_predict_methods_blends_refinement_a_with_the_autoencoder():
    from radarface import refine
    from radarface.models.decoder import decoder_data, fit_decoder

    cfg = profiles.resolve("smoke", tta_blend=0.25)
    decoder, fit = fit_decoder(cfg, decoder_data(cfg, "both"), progress=False)
    nets = ae.trained_networks(cfg, "amplitude", decoder, decoder_checkpoint=fit.checkpoint, progress=False)
    images, targets = nets.data["val"].tensors()
    n_enc = nets.autoencoder.n_encoded
    preds, _, _ = ae.predict_methods(cfg, "amplitude", nets, images[:3], targets[:3, n_enc:])
    assert list(preds) == list(ae.METHODS)
    np.testing.assert_allclose(preds[ae.BLENDED], 0.75 * preds["autoencoder"] + 0.25 * preds[ae.METHODS[2]])
    assert not np.allclose(preds[ae.BLENDED], preds[ae.METHODS[2]])
