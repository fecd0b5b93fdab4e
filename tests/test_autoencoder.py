"""The autoencoder: a frozen decoder behind a trained encoder; one decoder for every input type."""

import pytest
import torch

from radarface import train
from radarface.losses import autoencoder_loss
from radarface.models import Autoencoder, Encoder, LearnedRenderer
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
