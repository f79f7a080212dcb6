"""Stage 2b: a soft mask per person, two-stage like Mask R-CNN.

Each person box (after tracking, so masks follow the tracks and do not flicker) is
grown a little, cut out of the frame with ``tf.image.crop_and_resize`` (the stand-in
for Mask R-CNN's RoIAlign) at 256x256, and MediaPipe's selfie segmentation network
(translated into TensorFlow ops, see :mod:`vidanon.tflite_tf`) predicts a soft person
mask on the crop. The mask is reduced to ``MASK_SIZE`` squared and attached to the grown
box: the ``detection_masks`` convention, a low-resolution mask per box that the
renderer resizes into the box.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .detections import Detections
from .mask import scale_boxes
from .models import model_path

SEG_SIZE = 256  # the network's input
MASK_SIZE = 64  # masks as stored per box
CROP_SCALE = 1.15  # arms and feet reach past the detector's box


class PersonSegmenter:
    """Attach a soft person mask to every box of a frame's :class:`Detections`."""

    def __init__(self) -> None:
        import tensorflow as tf

        from .tflite_tf import load_tflite_as_tf

        net = load_tflite_as_tf(model_path("selfie_segmentation"))

        @tf.function(
            autograph=False,  # plain TF ops only: skip the source transformation
            input_signature=[tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, 4], tf.float32)],
            reduce_retracing=True,
        )
        def segment(frame, boxes):
            image = tf.cast(frame, tf.float32)[None] / 255.0  # the network takes [0, 1]
            crops = tf.image.crop_and_resize(image, boxes, tf.zeros(tf.shape(boxes)[0], tf.int32),
                                             (SEG_SIZE, SEG_SIZE), extrapolation_value=0.0)  # fmt: skip
            masks = net(crops)
            return tf.image.resize(masks, (MASK_SIZE, MASK_SIZE), method="area")[..., 0]

        self._segment = segment

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        if len(detections) == 0:
            return replace(detections, masks=np.zeros((0, MASK_SIZE, MASK_SIZE), np.float32))
        grown = scale_boxes(detections.boxes, CROP_SCALE).astype(np.float32)
        return replace(detections, boxes=grown, masks=self._segment(frame, grown).numpy())
