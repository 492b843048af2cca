"""Segmenter: pre-processing -> backend -> post-processing, the only path from pixels to labels.

>>> seg = Segmenter.default()                  # the shipped model on the backend auto picks
>>> out = seg.segment(rgb)                     # rgb: H x W x 3 uint8, any size
>>> out.labels.shape == rgb.shape[:2]
True

The node, the command line, the benchmarks and the evaluation all call :meth:`Segmenter.segment`, so they all
get the same safe drivable area, free space, ambiguity checks (seg_perception.ambiguity) and frame-level trust
check (seg_perception.trust):

>>> out.drivable, out.freespace, out.ambiguous, out.alarm, out.reasons   # doctest: +SKIP
>>> out.degraded, out.degraded_reasons                                  # doctest: +SKIP

With the ego vehicle's hood in view, ``ego_mask`` says where it is (seg_perception.ego_mask): its pixels come out
labelled 255 (outside), never drivable and unseen by the checks, and the drivable area grows from above them:

>>> seg = Segmenter.default(ego_mask='bottom:0.25')   # or a mask PNG's path, or 'auto'   # doctest: +SKIP
"""

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from . import backends, denoise, framing
from .ambiguity import Reason, TemporalFlipCheck, check_frame
from .camera import CameraModel, HorizonTracker, find_horizon
from .drivable import connected_road
from .ego_mask import EgoMask, grow_over_edge, resize_mask
from .framing import DEFAULT_ASPECT, check_aspect, to_network_size  # noqa: F401 - to_network_size: the API
from .model_files import ModelFiles, default_model
from .safety_config import SafetyConfig
from .taxonomy import TAXONOMY_IGNORE as OUTSIDE, class_ids, class_palette, colourise
from .trust import Trust, TrustMonitor, grey_thumbnail, noise_sigma, repeated_share, sharpness


class InputError(ValueError):
    """An input image that cannot be segmented; the message says what was expected and what arrived."""


@dataclass
class Segmentation:
    """The result for one image, at the image's own resolution.

    When the frame is ``degraded`` the labels are kept, the drivable area is empty and the free space unknown:
    ``freespace`` is then W float32 NaN.
    """

    labels: np.ndarray                      # H x W uint8 class ids
    classes: Tuple[str, ...]
    palette: Tuple[Tuple[int, int, int], ...]     # per class: its taxonomy class's colour (taxonomy.class_palette)
    margin_net: np.ndarray                  # top-1 minus top-2 probability at the network's scale (framing.py)
    drivable: np.ndarray                    # H x W uint8, 255 where the vehicle may drive (see ambiguity.assess)
    freespace: np.ndarray                   # W int32: per column, row of the nearest non-drivable pixel; -1: none
    ambiguous: np.ndarray                   # H x W uint8, 255 where the checks distrust the segmentation
    alarm: bool = False                     # an ambiguity touches the path ahead
    reasons: Tuple[Reason, ...] = ()        # which checks raised the alarm, where, how strongly
    horizon_row: float = float('nan')       # the horizon the checks used, and where it came from
    horizon_source: str = ''
    horizon_uncertainty_px: float = 0.0     # how far off it may be: added to the checks' margins
    timings_ms: Dict[str, float] = field(default_factory=dict)
    degraded: bool = False                  # the frame as a whole cannot be trusted (seg_perception.trust)
    degraded_reasons: Tuple[str, ...] = ()  # which of the trust check's reasons hold
    trust: Optional[Trust] = None           # its verdict, with the statistics it measured
    ego: Optional[np.ndarray] = None        # H x W bool, the ego vehicle's pixels (labels 255); None: none
    denoised: str = ''                      # filters run before the network, e.g. 'median+stretch+blur': denoise.py

    @property
    def margin(self) -> np.ndarray:
        """H x W float32 top-1 minus top-2 probability at the image's resolution (resized on demand)."""
        h, w = self.labels.shape
        if self.margin_net.shape == (h, w):
            return self.margin_net
        return cv2.resize(self.margin_net, (w, h), interpolation=cv2.INTER_LINEAR)

    def confidence(self) -> np.ndarray:
        """H x W uint8: the margin x 255, rounded and clipped to 0..255 (what segmentation/confidence carries).

        The margin comes from the network's resolution bilinearly (:attr:`margin`), as the checks see it.
        """
        return cv2.convertScaleAbs(self.margin, alpha=255.0)   # the margin is >= 0: |255 m| saturated = 255 m

    def color(self) -> np.ndarray:
        """H x W x 3 uint8 RGB colours of the labels: each class in its taxonomy class's colour."""
        return colourise(self.labels, self.classes)

    def overlay(self, rgb: np.ndarray, alpha: float = 0.5) -> np.ndarray:
        """The coloured labels blended over the input image (``alpha``: the colours' weight)."""
        return cv2.addWeighted(np.asarray(rgb, np.uint8), 1.0 - alpha, self.color(), alpha, 0.0)

    def class_shares(self) -> Dict[str, float]:
        """Share of the image's pixels per class, in [0, 1]."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes))[:len(self.classes)]
        return {name: float(c) / self.labels.size for name, c in zip(self.classes, counts)}


@dataclass
class Inferred:
    """Frames through the network, not yet post-processed (:meth:`Segmenter.infer_cameras`)."""

    images: List[np.ndarray]            # the checked H x W x 3 frames
    framing: List[tuple]                # per frame: its framing plan, its content at the network's scale, and the
    #                                     content's grey thumbnail when denoising measured it (else None)
    labels: np.ndarray                  # the backend's outputs for the whole batch
    margin: np.ndarray
    preprocess_ms: float                # per frame
    inference_ms: float
    denoised: List[str]                 # per frame: the filters run on it before the network


def check_rgb(rgb) -> np.ndarray:
    """Return ``rgb`` as a contiguous H x W x 3 uint8 array, or raise InputError saying what is wrong."""
    if not isinstance(rgb, np.ndarray):
        raise InputError(f'expected an H x W x 3 uint8 numpy array, got {type(rgb).__name__}')
    if rgb.dtype != np.uint8:
        raise InputError(f'expected uint8 pixels, got {rgb.dtype}; convert with .astype(np.uint8) after scaling '
                         f'to 0..255')
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f'expected an H x W x 3 RGB image, got shape {rgb.shape}')
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise InputError(f'image too small to segment: {rgb.shape[1]} x {rgb.shape[0]}')
    return np.ascontiguousarray(rgb)


class Segmenter:
    """A model on a backend, with the pre- and post-processing that every caller shares."""

    def __init__(self, model: ModelFiles, backend: backends.Backend, safety: Optional[SafetyConfig] = None,
                 ego_mask: Union[str, EgoMask] = '', aspect: str = DEFAULT_ASPECT):
        """``ego_mask``: where the ego vehicle is in view (see seg_perception.ego_mask); ValueError if invalid.

        ``aspect``: how a frame of another aspect ratio than the network's goes in (seg_perception.framing).
        """
        self.model = model
        self.backend = backend
        self.classes = model.classes
        self.palette = class_palette(self.classes)
        self.input_hw = model.input_hw
        self.class_ids = class_ids(self.classes)      # the class groups the checks use, once per model
        # replaced whole (never mutated) when settings change, so that a frame sees one consistent config
        self.safety = safety or SafetyConfig()
        # the ego mask of callers that give none per frame: one stream (an ``auto`` mask learns from its frames)
        self.ego_mask = ego_mask if isinstance(ego_mask, EgoMask) else EgoMask(ego_mask)
        self.aspect = check_aspect(aspect)          # replaced whole too; each frame reads it once

    @classmethod
    def default(cls, backend: str = 'auto', **options) -> 'Segmenter':
        """The shipped default model on ``backend``.

        ``auto``: tensorrt on a GPU with an engine, else openvino where installed, else onnxruntime
        (seg_perception.backends.auto; ``segmenter.backend.selection`` says which and why). Labels on openvino bf16
        are 99.8% those of onnxruntime; name ``backend='onnxruntime'`` where the exact labels matter.
        """
        return cls.from_model(None, backend=backend, **options)

    @classmethod
    def from_model(cls, path: Optional[str], backend: str = 'onnxruntime', safety: Optional[SafetyConfig] = None,
                   ego_mask: Union[str, EgoMask] = '', aspect: str = DEFAULT_ASPECT, **options) -> 'Segmenter':
        """A model given by manifest or model-file path, or by name (None: the default model).

        ``ego_mask``: '', ``bottom:F``, a mask PNG or ``auto`` (seg_perception.ego_mask); checked before the model
        loads, ValueError naming it if invalid. ``aspect``: seg_perception.framing's tiles, letterbox or squash.
        """
        ego = ego_mask if isinstance(ego_mask, EgoMask) else EgoMask(ego_mask)
        aspect = check_aspect(aspect)
        model = default_model() if path is None else ModelFiles.load(path)
        return cls(model, backends.create(backend, model, **options), safety, ego, aspect)

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """H x W x 3 uint8 -> network-sized uint8 RGB, squashed whatever the aspect (the network's raw input)."""
        return to_network_size(rgb, self.input_hw)

    def frame(self, rgb: np.ndarray, aspect: Optional[str] = None) -> Tuple[np.ndarray, framing.Framing, np.ndarray]:
        """(N x H x W x 3 network images, their Framing, the frame at the network's scale) for ``aspect``.

        ``aspect`` None: the segmenter's. The letterbox padding is the model's normalisation mean. Normalisation
        itself happens inside the graph.
        """
        plan = framing.plan(rgb.shape[:2], self.input_hw, self.aspect if aspect is None else aspect)
        images, content = framing.network_images(rgb, plan, self.model.mean_std[0])
        return images, plan, content

    def postprocess(self, labels_net: np.ndarray, margin_net: np.ndarray, shape: Tuple[int, int],
                    timings: Dict[str, float], camera: Optional[CameraModel] = None,
                    temporal: Optional[TemporalFlipCheck] = None, rgb_net: Optional[np.ndarray] = None,
                    trust: Optional[TrustMonitor] = None, ego: Optional[np.ndarray] = None,
                    horizon: Optional[HorizonTracker] = None,
                    grey_net: Optional[np.ndarray] = None) -> Segmentation:
        """Outputs at the network's scale -> a Segmentation at the image's resolution, checked (timings['checks']).

        ``labels_net`` and ``margin_net``: the network's outputs on the frame's part of its input, merged across
        the windows (seg_perception.framing.merge); the network's own size when the frame is squashed into it.
        ``rgb_net``: the frame at the network's scale, for the trust check's image statistics and the horizon's lane
        cue (None: those are skipped); ``trust``: the stream's trust monitor, for its frozen and unstable checks, and
        ``horizon``: its horizon tracker, for the median horizon over its frames (None: this frame alone);
        ``ego``: the ego vehicle's pixels at the image's resolution (H x W bool, None: none in view);
        ``grey_net``: ``rgb_net``'s grey thumbnail for the trust check when the caller has it (None: made there).
        The way of the frame: the ego vehicle (with the vehicle labels spilling over its edge,
        ego_mask.grow_over_edge) labelled outside (255), the road connected to the ego region
        (drivable.connected_road), the horizon (camera.find_horizon), then every check in one call
        (ambiguity.check_frame, the trust check included).
        """
        t = time.perf_counter()
        h, w = shape
        labels = labels_net
        if labels.shape != (h, w):
            labels = cv2.resize(labels_net, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
        margin = margin_net
        if margin.shape != (h, w):
            margin = cv2.resize(margin_net, (w, h), interpolation=cv2.INTER_LINEAR)
        ego_net = None
        if ego is not None:
            # the one place the ego vehicle is masked: every output and check below sees label 255 there
            ego = grow_over_edge(ego, labels, self.class_ids.vehicle, self.safety.drivable.ego_edge_px)
            labels = np.where(ego, np.uint8(OUTSIDE), labels)
            ego_net = resize_mask(ego, labels_net.shape)
            labels_net = np.where(ego_net, np.uint8(OUTSIDE), labels_net)
        t_checks = time.perf_counter()
        config = self.safety
        candidate = connected_road(labels, self.class_ids, config, ego)
        grey = None
        if rgb_net is not None and camera is None and config.camera.horizon_lane_cue:
            grey = cv2.cvtColor(np.ascontiguousarray(rgb_net), cv2.COLOR_RGB2GRAY)
        sky = np.isin(labels, self.class_ids.sky) if camera is None and config.camera.horizon_sky_cue else None
        found = find_horizon(shape, config.camera, camera, candidate, sky, grey, horizon)
        verdict = check_frame(labels, margin, self.class_ids, config, found.row, found.source, candidate, temporal,
                              trust, rgb_net, labels_net, margin_net,
                              camera_height_m=camera.height_m if camera is not None else None, ego=ego,
                              ego_net=ego_net, horizon_uncertainty_px=found.uncertainty_px, grey_net=grey_net)
        now = time.perf_counter()
        timings['checks'] = (now - t_checks) * 1e3
        timings['postprocess'] = (now - t) * 1e3
        judged = verdict.trust
        return Segmentation(labels, self.classes, self.palette, margin_net, verdict.drivable, verdict.freespace,
                            verdict.ambiguous, verdict.alarm, verdict.reasons, verdict.horizon_row,
                            verdict.horizon_source, found.uncertainty_px, timings, judged.degraded, judged.reasons,
                            judged, ego)

    def segment(self, rgb: np.ndarray, camera: Optional[CameraModel] = None,
                temporal: Optional[TemporalFlipCheck] = None, crf=None,
                trust: Optional[TrustMonitor] = None, ego_mask: Optional[EgoMask] = None,
                horizon: Optional[HorizonTracker] = None) -> Segmentation:
        """Segment one H x W x 3 uint8 RGB image; InputError if it is not one.

        ``camera``: the calibrated camera, for the horizon (else estimated or the default, see camera.py);
        ``temporal``, ``trust`` and ``horizon``: the stream's temporal check, trust monitor and horizon tracker,
        when frames come in order (one per camera; None: this frame alone);
        ``crf``: dense-CRF settings (:class:`seg_perception.crf.CRFParams`) to refine the labels with before the
        checks run, or None (the live default: the CRF costs hundreds of milliseconds per frame). It needs the
        class probabilities, which only the torch backend gives; its cost is ``timings_ms['crf']``;
        ``ego_mask``: the stream's ego mask (None: the segmenter's own, :attr:`ego_mask`).
        """
        if crf is None:
            return self.segment_cameras([rgb], [camera], [temporal], [trust], [ego_mask], [horizon])[0]
        return self.segment_crf(rgb, crf, camera, temporal, trust, ego_mask, horizon)

    def segment_crf(self, rgb: np.ndarray, params, camera: Optional[CameraModel] = None,
                    temporal: Optional[TemporalFlipCheck] = None,
                    trust: Optional[TrustMonitor] = None, ego_mask: Optional[EgoMask] = None,
                    horizon: Optional[HorizonTracker] = None) -> Segmentation:
        """:meth:`segment` with the labels refined by the dense CRF (``params``: crf.CRFParams) at the image size.

        The margin stays the network's (the CRF's marginals are not calibrated probabilities); the drivable area
        and the checks run on the refined labels. ValueError unless the backend is torch.
        """
        self._torch_graph()
        t0 = time.perf_counter()
        rgb = check_rgb(rgb)
        batch, plan, content = self.frame(rgb)
        batch, denoised, content, grey = self._denoised(rgb, batch, content, self.aspect)
        t1 = time.perf_counter()
        _, margin = self.backend.infer(batch)
        t2 = time.perf_counter()
        refined, _ = self.crf_labels(rgb, params, batch=(batch, plan))
        timings = {'preprocess': (t1 - t0) * 1e3, 'inference': (t2 - t1) * 1e3,
                   'crf': (time.perf_counter() - t2) * 1e3}
        ego = (ego_mask or self.ego_mask).for_frame(rgb)
        result = self.postprocess(refined, framing.merge(margin, plan), rgb.shape[:2], timings, camera, temporal,
                                  content, trust, ego, horizon, grey)
        timings['total'] = timings['preprocess'] + timings['inference'] + timings['crf'] + timings['postprocess']
        result.denoised = denoised
        return result

    def crf_labels(self, rgb: np.ndarray, params, implementation: str = 'auto',
                   batch: Optional[Tuple[np.ndarray, framing.Framing]] = None) -> Tuple[np.ndarray, Dict[str, float]]:
        """Labels (H x W uint8) of ``rgb`` refined by the dense CRF from the torch graph's class probabilities.

        The probability path of :meth:`segment_crf` and ``eval --crf``: ``params`` is a crf.CRFParams,
        ``implementation`` as :func:`crf.dense_crf` takes it, ``batch`` the network images of ``rgb`` and their
        Framing (:meth:`frame`) when the caller has them. Returns the labels and ``{'crf': milliseconds}`` of the
        refinement alone (crf.refine); ValueError unless the backend is torch.
        """
        from . import crf

        graph = self._torch_graph()
        if batch is None:
            rgb = check_rgb(rgb)
            batch = self.frame(rgb)[:2]
        images, plan = batch
        probabilities = crf.probabilities_torch(graph.model, images, *self.model.mean_std, self.backend.device,
                                                graph.class_bias)
        probabilities = framing.merge([p.transpose(1, 2, 0) for p in probabilities], plan).transpose(2, 0, 1)
        return crf.refine(probabilities, rgb, params, implementation)

    def _torch_graph(self):
        """The torch backend's graph (its model and class bias); ValueError for a backend without probabilities."""
        graph = getattr(self.backend, 'graph', None)
        if self.backend.name != 'torch' or graph is None:
            raise ValueError(f'the dense CRF needs the class probabilities, which the deployed graph of the '
                             f'{self.backend.name} backend does not output; use the torch backend')
        return graph

    def segment_batch(self, images: Sequence[np.ndarray], camera: Optional[CameraModel] = None,
                      temporal: Optional[TemporalFlipCheck] = None, trust: Optional[TrustMonitor] = None,
                      horizon: Optional[HorizonTracker] = None) -> List[Segmentation]:
        """Segment several images (any sizes) in one backend call; ``temporal``, ``trust``, ``horizon``: in order."""
        return self.segment_cameras(images, [camera] * len(images), [temporal] * len(images),
                                    [trust] * len(images), horizons=[horizon] * len(images))

    def segment_cameras(self, images: Sequence[np.ndarray], cameras: Sequence[Optional[CameraModel]],
                        temporals: Sequence[Optional[TemporalFlipCheck]],
                        trusts: Optional[Sequence[Optional[TrustMonitor]]] = None,
                        ego_masks: Optional[Sequence[Optional[EgoMask]]] = None,
                        horizons: Optional[Sequence[Optional[HorizonTracker]]] = None) -> List[Segmentation]:
        """Segment one frame per camera (any sizes) in one backend call, each checked with its own camera.

        Frame i gets ``cameras[i]`` (its calibrated camera model, or None), ``temporals[i]``, ``trusts[i]``,
        ``ego_masks[i]`` and ``horizons[i]`` (that camera's temporal check, trust monitor, ego mask and horizon
        tracker, or None; ``trusts`` or ``horizons`` None: none for any; an ego mask None: the segmenter's own,
        :attr:`ego_mask`), so that several cameras share one engine run but never each other's state (an ``auto``
        ego mask learns per camera: ``EgoMask.for_stream``).
        """
        trusts = [None] * len(images) if trusts is None else trusts
        ego_masks = [None] * len(images) if ego_masks is None else ego_masks
        horizons = [None] * len(images) if horizons is None else horizons
        if not len(images) == len(cameras) == len(temporals) == len(trusts) == len(ego_masks) == len(horizons):
            raise ValueError(f'expected one camera model and one temporal check per image (and one trust monitor, '
                             f'one ego mask and one horizon tracker if given), got {len(images)} images, '
                             f'{len(cameras)} camera models, {len(temporals)} temporal checks, {len(trusts)} trust '
                             f'monitors, {len(ego_masks)} ego masks, {len(horizons)} horizon trackers')
        return self.finish_cameras(self.infer_cameras(images), cameras, temporals, trusts, ego_masks, horizons)

    def infer_cameras(self, images: Sequence[np.ndarray]) -> 'Inferred':
        """The first half of :meth:`segment_cameras`: the frames checked, framed and run through the backend.

        Holds no camera's state, so a caller may run it for the next frames while :meth:`finish_cameras` finishes
        these (the node's pipeline); InputError if an image is not an H x W x 3 uint8 RGB image.
        """
        t0 = time.perf_counter()
        images = [check_rgb(im) for im in images]
        aspect = self.aspect
        nets, framed, denoised = [], [], []
        for im in images:
            net, plan, content = self.frame(im, aspect)
            net, filters, content, grey = self._denoised(im, net, content, aspect)
            nets.append(net)
            framed.append((plan, content, grey))    # content as it came (stretched): the checks judge the camera
            denoised.append(filters)
        batch = np.concatenate(nets)
        t1 = time.perf_counter()
        labels, margin = self.backend.infer(batch)
        t2 = time.perf_counter()
        n = len(images)
        return Inferred(images, framed, labels, margin, (t1 - t0) * 1e3 / n, (t2 - t1) * 1e3 / n, denoised)

    def _denoised(self, rgb: np.ndarray, net: np.ndarray, content: np.ndarray,
                  aspect: str) -> Tuple[np.ndarray, str, np.ndarray, Optional[np.ndarray]]:
        """(network images, filters run, content for the checks, its grey thumbnail): test-time denoising.

        ``net``, ``content``: the frame's network images and its content at the network's scale, unfiltered.
        The filters run at the frame's own resolution (denoise.measure says where each statistic is taken).
        The checks get the content with its contrast stretched where that ran, and with impulses removed where
        the median alone restored the frame: the median and the stretch restore what the trust check's ``noise``
        (impulses) and ``flat`` reasons look at, while on a frame that also needed the blur the noise stays as it
        came, for the ``noise`` reason (never blurred); and its grey thumbnail, the trust check's own (None when
        denoising is off): measured once, it is handed on.
        """
        params = self.safety.denoise
        if not params.enabled:
            return net, '', content, None
        width = self.safety.trust.noise_width_px
        checks_grey = grey = grey_thumbnail(content, width)
        sigma, impulses = denoise.measure(rgb, grey, params)
        filters, checks = [], content
        if denoise.wants_median(impulses, params):
            rgb = denoise.median(rgb)
            net, _, content = self.frame(rgb, aspect)       # its content: the statistics after the median
            grey = grey_thumbnail(content, width)
            sigma = noise_sigma(grey)
            filters.append('median')
        gain = denoise.stretch_gain(denoise.grey_range(grey), params)
        if gain > 1.0:      # before the blur, which then sees the noise as stretched
            rgb = denoise.stretch(rgb, gain)
            sigma *= gain
            filters.append('stretch')
        if denoise.wants_blur(sigma, params):
            rgb = denoise.blur(rgb, params)
            filters.append('blur')
        else:       # what the median removed is gone; noise that only the blur lessens stays for the checks
            checks, checks_grey = content, grey
            if denoise.wants_sharpen(sharpness(grey_thumbnail(grey, self.safety.trust.blur_width_px)), params):
                rgb = denoise.sharpen(rgb, params)      # the checks judge the frame unsharpened
                filters.append('sharpen')
            elif gain == 1.0 and denoise.wants_deblock(repeated_share(rgb), params):
                rgb = denoise.deblock(rgb, params)      # the checks judge the frame as it came, blocks and all
                filters.append('deblock')
        if filters and filters != ['median']:       # the network images of the frame as the filters left it
            net, _, _ = self.frame(rgb, aspect)
        if gain > 1.0:
            checks = denoise.stretch(checks, gain)
            checks_grey = grey_thumbnail(checks, width)
        return net, '+'.join(filters), checks, checks_grey

    def finish_cameras(self, inferred: 'Inferred', cameras: Sequence[Optional[CameraModel]],
                       temporals: Sequence[Optional[TemporalFlipCheck]],
                       trusts: Optional[Sequence[Optional[TrustMonitor]]] = None,
                       ego_masks: Optional[Sequence[Optional[EgoMask]]] = None,
                       horizons: Optional[Sequence[Optional[HorizonTracker]]] = None) -> List[Segmentation]:
        """The second half of :meth:`segment_cameras`: each frame's outputs post-processed and checked.

        Each frame with the state of its camera (as there), in the order the frames were inferred.
        """
        n = len(inferred.images)
        trusts = [None] * n if trusts is None else trusts
        ego_masks = [None] * n if ego_masks is None else ego_masks
        horizons = [None] * n if horizons is None else horizons
        results = []
        start = 0
        for i, (im, (plan, content, grey)) in enumerate(zip(inferred.images, inferred.framing)):
            timings = {'preprocess': inferred.preprocess_ms, 'inference': inferred.inference_ms}
            ego = (ego_masks[i] or self.ego_mask).for_frame(im)
            part = slice(start, start + plan.count)
            start += plan.count
            results.append(self.postprocess(framing.merge(inferred.labels[part], plan),
                                            framing.merge(inferred.margin[part], plan), im.shape[:2], timings,
                                            cameras[i], temporals[i], content, trusts[i], ego, horizons[i],
                                            grey))
            timings['total'] = timings['preprocess'] + timings['inference'] + timings['postprocess']
            results[-1].denoised = inferred.denoised[i]
        return results
