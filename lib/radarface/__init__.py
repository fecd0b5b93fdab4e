"""radarface: 3D face reconstruction from radar images, a reproducible companion.

Layers, each importing only those below it (checked by import-linter, see pyproject.toml):

- commands: ``reconstruct`` (faces from your captures), ``weights`` (shipped networks),
  ``results`` (the README's tables);
- ``experiments``: typed settings per stage, training on a profile's data, evaluation of
  the methods, the paper's table, test-time tuning, real or surrogate captures;
- algorithms: ``train`` (the one training loop), ``refine`` (test-time analysis by
  synthesis through the learned renderer), ``physics_fit`` (the same through the
  differentiable physics renderer);
- ``losses``: the image, parameter, decoder and autoencoder losses;
- ``models``: the networks (encoder, learned renderer, autoencoder);
- data, physics and tools: ``facemodel`` (morphable face models), ``geometry`` (pose),
  ``radar`` (physics-based renderers), ``dataset`` (synthetic HDF5 datasets),
  ``measurements`` (capture files, surrogate captures), ``metrics``, ``augment``,
  ``profiles`` (run sizes), ``paths``, ``runtime`` (locks, threads, determinism),
  ``progress``, ``plots``, ``widgets``, ``run`` (the notebooks' batch runner).
"""

__version__ = "0.1.0"
