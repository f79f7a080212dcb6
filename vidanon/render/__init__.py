"""Stage 3: a frame and the boxes to hide in it in, the anonymized frame out.

* :mod:`.compositor`: :class:`~.compositor.Compositor`, the render stage (the effect, and the
  people segmenter when people are hidden);
* :mod:`.masks`: soft per-box masks in the ``detection_masks`` convention (a head ellipse for a
  face, a feathered rectangle for a plate, a person's own mask);
* :mod:`.effects`: blur, pixelate, fill and splash, computed only where a mask lands;
* :mod:`.segment`: a soft mask per person box (selfie segmentation on each box).

The names the options need are here, in this light module (no numpy), so that
``import vidanon`` stays light.
"""

EFFECTS = ("blur", "pixelate", "fill", "image", "splash")
# At 1.45 the mask's fully opaque ellipse reaches 1.16 half-boxes out and hides the whole
# face even when the box sits a little off it (scripts/evaluate.py: 1.3 left 2.7% of
# face-frames visible, 1.45 0.9%).
DEFAULT_MASK_SCALE = 1.45
# Strength follows the face: the blur reduces every face to about BLUR_CELLS samples across
# before smoothing, pixelation to PIXEL_CELLS blocks across (--strength sets either).
BLUR_CELLS = 6.0  # samples across a face after downscaling (before the Gaussian)
PIXEL_CELLS = 8.0  # blocks across a face
