"""The paper's networks, as ``nn.Module`` s that know nothing of profiles, losses or training.

- :class:`Encoder` (paper §1 point 3): radar images (B, C, H, W) to normalised face, pose
  (and rendering) parameters, as three networks (the paper's) or one shared network
  (backbone ``"plain"``); :class:`EncoderEnsemble` averages several (:mod:`.encoder`).
- :class:`LearnedRenderer` (point 4): normalised parameters to radar images (:mod:`.decoder`).
- :class:`Autoencoder` (point 5): a trainable encoder, then the frozen learned renderer;
  :class:`SelectChannels` restricts a renderer to the images' channels (:mod:`.autoencoder`).
- :mod:`.backbones`: torchvision ResNet-50 / ResNet-18 (narrowable) / AlexNet adapted to
  1–2 channel images of 32–128 px, a plain CNN with a flattened head, and a tiny CNN.

Their losses are in :mod:`radarface.losses`; training and evaluation on a profile's data in
:mod:`radarface.experiments`.
"""

from radarface.models.autoencoder import Autoencoder, SelectChannels, channels_for
from radarface.models.decoder import CHANNELS, DECODER_BACKBONES, LearnedRenderer, depth_channels
from radarface.models.encoder import BACKBONES, Encoder, EncoderEnsemble, count_parameters

__all__ = ["Encoder", "EncoderEnsemble", "BACKBONES", "count_parameters", "LearnedRenderer", "DECODER_BACKBONES",
           "CHANNELS", "depth_channels", "Autoencoder", "SelectChannels", "channels_for"]
