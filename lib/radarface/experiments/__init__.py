"""Experiments: the paper's networks trained, evaluated and compared on the profile's data.

The layer above the library's pieces (networks in :mod:`radarface.models`, losses in
:mod:`radarface.losses`, the training loop :mod:`radarface.train`, test-time refinement
:mod:`radarface.refine`) and below the notebooks and commands. Only here is a profile
(:func:`radarface.profiles.resolve`) read, by the settings' ``from_profile`` constructors
and by the entry points that select a profile's data and networks.

- :mod:`.settings`: typed settings per stage, each naming its own runs (checkpoints).
- :mod:`.fitting`: data splits; training the encoder, the learned renderer and the autoencoder.
- :mod:`.evaluation`: the methods by name (encoder, autoencoder, (a), (b), blended) on test
  images, and their metrics.
- :mod:`.paper_table`: the paper's results table and ours side by side.
- :mod:`.renderers`: the learned renderer against the physics renderer (sensitivity, speed).
- :mod:`.tuning`: test-time settings chosen on validation images (``python -m radarface.experiments.tuning``).
- :mod:`.real_data`: measured or surrogate captures (notebook 07): predictions, identity, domain gap.
"""
