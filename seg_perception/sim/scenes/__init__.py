"""Procedural car-camera street scenes with pixel-exact CamVid labels.

Real driving datasets (CamVid, Cityscapes, ...) may not be redistributed, so the frames this project ships
(the bundled sample sequence, demo inputs, test fixtures, hazard cases) are rendered here instead. The
renderer draws a forward-facing pinhole-camera view of a straight street: sky with clouds, asphalt road with
lane markings, kerbs and pavements, terraces of buildings with window grids, trees, street lights, signs,
fences, parked and moving cars, pedestrians and the odd bicyclist. Every shape is painted far to near
(painter's algorithm) into the RGB frame and, with the very same pixel mask, into a label map of CamVid
11-class ids, so the labels are exact. Cheap photometric effects (haze, vignetting, blur, sensor noise,
exposure and colour-temperature changes) make the frames look like a camera rather than a cartoon. Options of
:func:`render_frame` vary what the defaults keep fixed: the camera's height and field of view, white and
light-grey vehicles, dusk and night, wet roads; :func:`varied_options` draws them for a training frame.

World coordinates are metres: X to the right, Y up, Z forward along the road. The camera sits 1.5 m above
the road (by default) at ``Z = 10 m/s * t``, so frames rendered at ``t = 0, 0.1, 0.2, ...`` with the same seed
form a temporally coherent 10 fps sequence. The layout depends on the seed only; ``t`` moves the camera (and,
slowly, the other road users).

>>> rgb, labels = render_scene(3)
>>> rgb.shape, labels.shape
((360, 480, 3), (360, 480))

One module per job, each importing only those before it: ``layout`` (the world's units and label ids, the
street and where everything stands), ``textures`` (each thing's look), ``raster`` (painting quads, the ground
and the items into the frame), ``lighting`` (dusk and night, wet roads), ``effects`` (the camera's photometry)
and ``render`` (a frame and its ground truth, the functions below).

Pure numpy + OpenCV; no ROS imports.
"""

from .layout import (BICYCLIST, BUILDING, CAM_HEIGHT, CAR, CLASS_NAMES, FENCE, HAZARDS, LIGHTS, PEDESTRIAN, POLE,
                     ROAD, SIDEWALK, SIGN, SKY, SPEED, STRUCTURES, TREE, VOID)
from .render import VARIED_SIZES, RenderedFrame, render_frame, render_scene, render_sequence, varied_options

__all__ = ['render_scene', 'render_frame', 'render_sequence', 'RenderedFrame', 'CLASS_NAMES', 'SKY', 'BUILDING',
           'POLE', 'ROAD', 'SIDEWALK', 'TREE', 'SIGN', 'FENCE', 'CAR', 'PEDESTRIAN', 'BICYCLIST', 'VOID', 'SPEED',
           'CAM_HEIGHT', 'HAZARDS', 'STRUCTURES', 'LIGHTS', 'VARIED_SIZES', 'varied_options']
