"""Reference values reported by the paper (arXiv 2412.02403) that notebooks set beside this run's.

Kept here so that a notebook prints the paper's number from one named constant instead of typing
it into its text. Times are per image, on the paper's hardware.

>>> f"{PHYSICS_RENDERER_S_PER_IMAGE / LEARNED_RENDERER_S_PER_IMAGE:.0f}×"  # "about 2000 times faster"
'2069×'
"""

from __future__ import annotations

#: Seconds per image of the paper's physics-based radar renderer (a ray tracer): about two minutes.
PHYSICS_RENDERER_S_PER_IMAGE: float = 120.0
#: Seconds per image of the paper's learned renderer (the decoder): 58 ms.
LEARNED_RENDERER_S_PER_IMAGE: float = 0.058
#: The paper's learned renderer against its physics renderer, per image.
LEARNED_RENDERER_SPEEDUP: float = PHYSICS_RENDERER_S_PER_IMAGE / LEARNED_RENDERER_S_PER_IMAGE
