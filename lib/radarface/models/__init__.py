"""Networks of the paper and the orchestration that trains them from a profile.

- Encoder (paper §1 point 3): :class:`Encoder` maps radar images (B, C, H, W) to normalised
  face, pose (and rendering) parameters, as three networks (the paper's) or one shared
  network (backbone ``"plain"``); :class:`EncoderEnsemble` averages several;
  :func:`build_encoder`, :func:`parameter_loss` / :func:`encoder_loss`, :func:`fit_encoder`.
- Learned renderer (point 4): :class:`LearnedRenderer` maps parameters to images;
  :func:`image_loss`, :func:`fit_decoder`.
- Model-based autoencoder (point 5): :class:`Autoencoder` (encoder, then the frozen learned
  renderer), :func:`autoencoder_loss` (L_img + λ·L_param), :func:`fit_autoencoder`,
  :func:`evaluate_pipeline` (test-time analysis by synthesis and the paper's table,
  :func:`comparison_table`).
- :mod:`.backbones`: torchvision ResNet-50 / ResNet-18 (narrowable) / AlexNet adapted to
  1–2 channel images of 32–128 px, a plain CNN with a flattened head, and a tiny CNN.
"""

from radarface.models.encoder import (BACKBONES, Encoder, EncoderEnsemble, build_encoder, count_parameters,
                                      encoder_data, encoder_loss, encoder_run_name, fit_encoder, member_rows,
                                      parameter_loss)

__all__ = ["Encoder", "EncoderEnsemble", "BACKBONES", "build_encoder", "parameter_loss", "encoder_loss", "count_parameters",
           "encoder_data", "encoder_run_name", "fit_encoder", "member_rows"]
from radarface.models.decoder import (DECODER_BACKBONES, ImageLoss, LearnedRenderer, build_decoder, decoder_data,
                                      decoder_loss, decoder_run_name, fit_decoder, image_loss)
from radarface.models.autoencoder import (Autoencoder, autoencoder_data, autoencoder_loss, comparison_table,
                                          evaluate_pipeline, fit_autoencoder, format_comparison, write_comparison)

__all__ += ["LearnedRenderer", "DECODER_BACKBONES", "ImageLoss", "image_loss", "build_decoder", "decoder_data",
            "decoder_loss", "decoder_run_name", "fit_decoder", "Autoencoder", "autoencoder_data", "autoencoder_loss",
            "fit_autoencoder", "evaluate_pipeline", "comparison_table", "format_comparison", "write_comparison"]
