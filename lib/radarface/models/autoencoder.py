"""The model-based autoencoder (paper §1 point 5): a trainable encoder, then the frozen learned renderer.

:class:`Autoencoder` joins a pretrained encoder (notebook 04) and the learned renderer
(notebook 05); training changes only the encoder, on the loss
:func:`radarface.losses.autoencoder_loss`

    loss = image_loss(decoder([encoder(x), r]), x) + λ · parameter_error(encoder(x), p_true)

with λ = 1 in the paper.

Rendering parameters. The decoder's input ends with the four rendering parameters
(dynamic range, material, aperture, SNR). An encoder that predicts them closes the
autoencoder. Otherwise (the default) they are taken from the data, ``r`` above, as known
acquisition settings: dynamic range and aperture are set by whoever forms the image;
material and SNR are not strictly known, which this treats as a measured calibration.
They are never part of the parameter loss or the metrics.

One decoder for all input types. A decoder of amplitude and depth serves an
amplitude-only or depth-only autoencoder through the matching channel
(:class:`SelectChannels`, :func:`channels_for`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from radarface.models.decoder import CHANNELS


class SelectChannels(nn.Module):
    """A renderer's output restricted to ``channels``: (B, D) -> (B, len(channels), H, W)."""

    def __init__(self, renderer: nn.Module, channels: Sequence[int]):
        super().__init__()
        self.renderer, self.channels = renderer, list(channels)

    @property
    def n_params(self) -> int:
        """Length of the renderer's input vectors."""
        return int(self.renderer.n_params)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        out = self.renderer(params)
        return out if self.channels == list(range(out.shape[1])) else out[:, self.channels]


def channels_for(inputs: str, decoder_inputs: str = "both") -> list[int]:
    """Channels of a ``decoder_inputs`` decoder that images of ``inputs`` hold.

    >>> channels_for("depth"), channels_for("both"), channels_for("depth", "depth")
    ([1], [0, 1], [0])
    """
    for name in (inputs, decoder_inputs):
        if name not in CHANNELS:
            raise ValueError(f"inputs must be one of {sorted(CHANNELS)}, got {name!r}")
    missing = [c for c in CHANNELS[inputs] if c not in CHANNELS[decoder_inputs]]
    if missing:
        raise ValueError(f"a decoder of {decoder_inputs!r} images cannot render {missing}; use a 'both' decoder")
    return [CHANNELS[decoder_inputs].index(c) for c in CHANNELS[inputs]]


class Autoencoder(nn.Module):
    """Encoder (trainable) -> frozen learned renderer: images (B, C, H, W) -> (parameters (B, D), images).

    Args:
        encoder: images -> (B, E) normalised parameters (E ≤ D, the first columns).
        decoder: (B, D) -> (B, C', H, W); frozen here (no gradients, always eval mode).
        channels: the decoder's channels that match the images (default: all).

    ``forward(images, given)``: ``given`` (B, D − E) completes the decoder's input (the
    rendering parameters when the encoder does not predict them).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, channels: Sequence[int] | None = None):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.decoder.requires_grad_(False)
        self.decoder.eval()
        self.channels = list(channels) if channels is not None else None
        self.n_encoded = int(getattr(encoder, "n_outputs", 0)) or None
        self.n_params = int(decoder.n_params)

    @property
    def renderer(self) -> nn.Module:
        """The frozen decoder restricted to the images' channels: (B, D) -> (B, C, H, W)."""
        return SelectChannels(self.decoder, self.channels) if self.channels is not None else self.decoder

    def train(self, mode: bool = True) -> Autoencoder:
        super().train(mode)
        self.decoder.eval()  # its batch-norm statistics stay those it was trained with
        return self

    def decoder_input(self, encoded: torch.Tensor, given: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's input (B, D): the encoder's output, then ``given`` columns."""
        n_missing = self.n_params - encoded.shape[1]
        if n_missing == 0:
            return encoded
        if given is None or given.shape != (len(encoded), n_missing):
            got = None if given is None else tuple(given.shape)
            raise ValueError(f"the encoder predicts {encoded.shape[1]} of the decoder's {self.n_params} inputs; "
                             f"given must be (B, {n_missing}) (the rendering parameters), got {got}")
        return torch.cat([encoded, given.to(encoded.dtype)], 1)

    def forward(self, images: torch.Tensor, given: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(encoded parameters (B, E), reconstructed images (B, C, H, W))."""
        encoded = self.encoder(images)
        return encoded, self.renderer(self.decoder_input(encoded, given))
