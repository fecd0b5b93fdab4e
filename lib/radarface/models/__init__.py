"""Networks: the supervised encoder (paper §1 point 3) and the backbones it is built from.

- :class:`Encoder`: radar images (B, C, H, W) -> normalised face, pose (and rendering)
  parameters; :class:`EncoderEnsemble` averages several; :func:`build_encoder` from a profile, :func:`parameter_loss` /
  :func:`encoder_loss` for :func:`radarface.train.fit`.
- :mod:`.backbones`: torchvision ResNet-50 / ResNet-18 (narrowable) / AlexNet adapted to
  1–2 channel images of 32–128 px, and a tiny CNN.
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
