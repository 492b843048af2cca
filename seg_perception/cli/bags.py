"""The bag commands: ``record``, ``play``, ``eval-bag``, ``carla-capture`` (rclpy and carla load when they run)."""

import argparse
import json
import sys

from .common import CommandError, add_model_args, make_segmenter, must_exist


def cmd_record(args) -> int:
    """Record topics into a rosbag2 (MCAP) bag until Ctrl-C or SIGTERM."""
    from ..ros.bag import record

    try:
        return record(args.out, args.topics, max_bag_size_mb=args.max_bag_size,
                      max_bag_duration_s=args.max_bag_duration, quiet=args.quiet)
    except FileExistsError as e:
        raise CommandError(str(e)) from None


def cmd_play(args) -> int:
    """Publish a bag's image topics, or a video / folder of images as a camera."""
    from ..ros.bag import play

    must_exist(args.source, 'source')
    try:
        return play(args.source, remaps=args.remap, rate=args.rate, loop=args.loop, delay_s=args.delay,
                    camera_topic=args.topic, fps=args.fps)
    except ValueError as e:
        raise CommandError(str(e)) from None


def cmd_eval_bag(args) -> int:
    """Score a recorded drive's predictions (or the model's, with --run) against its ground-truth topic."""
    from ..bags.evaluate import evaluate_bag
    from ..bags.hazards import HazardRule
    from ..bags.report import write_html
    from ..taxonomy import SOURCE_CLASSES

    must_exist(args.bag, 'bag')
    try:
        given = {'path_width_frac': args.path_width, 'horizon_frac': args.horizon,
                 'misread_share': args.misread_share}
        rule = HazardRule(**{name: value for name, value in given.items() if value is not None})
        evaluation = evaluate_bag(args.bag, args.gt_topic, args.gt_format, pred_topic=args.pred_topic,
                                  image_topic=args.image_topic, pred_classes=SOURCE_CLASSES[args.pred_classes],
                                  segmenter=make_segmenter(args) if args.run else None, keep_images=bool(args.html),
                                  drivable_topic=args.drivable_topic, diagnostics_topic=args.diagnostics_topic,
                                  rule=rule)
    except ValueError as e:
        raise CommandError(str(e)) from None
    print(json.dumps(evaluation.report, indent=2))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(evaluation.report, confusion=evaluation.confusion.tolist()), f, indent=2)
    if args.html:
        print(f'report written to {write_html(evaluation, args.html)[0]}', file=sys.stderr)
    return 0


def cmd_carla_capture(args) -> int:
    """Drive an ego vehicle in CARLA and write its camera and semantic frames into a bag."""
    from ..bags.carla_capture import CameraSpec, capture

    try:
        spec = CameraSpec(width=args.width, height=args.height, fov_deg=args.fov, x_m=args.mount[0],
                          z_m=args.mount[1], pitch_deg=args.pitch)
        return capture(args.out, host=args.host, port=args.port, tm_port=args.tm_port, frames=args.frames,
                       fps=args.fps, spec=spec, town=args.town, seed=args.seed, role_name=args.role_name,
                       timeout_s=args.timeout, quiet=args.quiet)
    except (ImportError, FileExistsError, RuntimeError) as e:
        raise CommandError(str(e)) from None


def add_parser(sub) -> None:
    """Register the record, play, eval-bag and carla-capture commands and their options on ``sub``."""
    p = sub.add_parser('record', help='record topics into a rosbag2 bag (MCAP)',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Record topics into a rosbag2 bag with MCAP storage (opens in ros2 bag and '
                                   'Foxglove), each with QoS matched to its publishers, until Ctrl-C or SIGTERM. '
                                   'With a split limit, DIR holds complete bags part_000, part_001, ...\n\n'
                                   'example:\n  seg-perception record -o out/drive1 /image /segmentation/labels '
                                   '--max-bag-duration 60')
    p.add_argument('topics', nargs='+', metavar='TOPIC', help='topics to record, e.g. /image /segmentation/labels')
    p.add_argument('-o', '--out', required=True, help='bag folder to create (must not exist)')
    p.add_argument('--max-bag-size', type=float, default=0.0, metavar='MB', help='split after this many MB')
    p.add_argument('--max-bag-duration', type=float, default=0.0, metavar='S', help='split after this many seconds')
    p.add_argument('-q', '--quiet', action='store_true', help='no progress line')
    p.set_defaults(func=cmd_record)

    p = sub.add_parser('play', help='play a bag\'s image topics, a video or a folder of images',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Publish the Image, CompressedImage and CameraInfo topics of a bag with their '
                                   'recorded timing divided by --rate; or a video file or a folder of images as '
                                   'rgb8 Images on --topic at --fps.\n\nexamples:\n'
                                   '  seg-perception play out/drive1 --remap /camera/image_raw:=/image --rate 0.5\n'
                                   '  seg-perception play drive.mp4 --topic /image --fps 15 --loop')
    p.add_argument('source', help='bag folder (or folder of split bags), video file, or folder of images')
    p.add_argument('--remap', action='append', default=[], metavar='FROM:=TO', help='publish topic FROM as TO')
    p.add_argument('--rate', type=float, default=1.0, help='playback speed factor')
    p.add_argument('--loop', action='store_true', help='play again from the start until Ctrl-C')
    p.add_argument('--delay', type=float, default=3.0, metavar='S',
                   help='wait up to S seconds for every topic to have a subscriber before playing')
    p.add_argument('--topic', default='/image', help='topic for a video or folder of images')
    p.add_argument('--fps', type=float, default=10.0, help='frame rate for a video or folder of images')
    p.set_defaults(func=cmd_play)

    p = sub.add_parser('eval-bag', help='per-class IoU, latency and dropped frames from a recorded drive',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Score the node\'s recorded labels (matched to ground truth by header stamp), or '
                                   'the model run offline over the bag\'s camera frames (--run), against a '
                                   'ground-truth topic, on the shared taxonomy: per-class IoU, mIoU, drivable (road) '
                                   'IoU, latency (labels receive time - input stamp), the share of input frames '
                                   'without labels, and ambiguity alarms against hazards (alarm recall on hazard '
                                   'frames, false-alarm rate on the others, drivable-area violations; the rule: '
                                   'seg_perception/bags/hazards.py).\n\nexample:\n  seg-perception eval-bag '
                                   'out/carla_drive --gt-topic /carla/ego_vehicle/semantic_segmentation_front/image '
                                   '--gt-format carla_palette --image-topic /carla/ego_vehicle/rgb_front/image '
                                   '--json out/drive.json --html out/drive.html')
    p.add_argument('bag', help='bag folder (or folder of split bags)')
    p.add_argument('--gt-topic', required=True, help='ground-truth label image topic')
    p.add_argument('--gt-format', required=True,
                   choices=('carla', 'carla_legacy', 'carla_palette', 'cityscapes', 'camvid'),
                   help='carla: raw tags (0.9.14+) in the red channel; carla_legacy: tags before 0.9.14; '
                        'carla_palette: CARLA\'s CityScapesPalette colours, either layout (what carla-ros-bridge '
                        'publishes); cityscapes: label ids; camvid: CamVid 11-class ids')
    p.add_argument('--pred-topic', default='/segmentation/labels', help="the node's recorded labels")
    p.add_argument('--pred-classes', default='taxonomy', choices=('taxonomy', 'camvid', 'cityscapes_train_id'),
                   help='the ids of the recorded labels: taxonomy (the node\'s default, label_ids: taxonomy), or '
                        'the classes of the model the node ran with label_ids: model')
    p.add_argument('--image-topic', default='/image', help='camera topic (input frames; needed by --run)')
    p.add_argument('--run', action='store_true', help='run Segmenter over the camera frames instead')
    p.add_argument('--drivable-topic', default='/segmentation/drivable', help="the node's recorded drivable area")
    p.add_argument('--diagnostics-topic', default='/diagnostics', help="the node's recorded alarms")
    p.add_argument('--path-width', type=float, metavar='FRAC',
                   help='hazards: the path ahead is this central share of the columns (default 1/3) ...')
    p.add_argument('--horizon', type=float, metavar='FRAC',
                   help='... below this row, as a share of the image height (default 0.5)')
    p.add_argument('--misread-share', type=float, metavar='FRAC',
                   help='hazards: share of an obstacle on the path predicted sky or road that makes a hazard '
                        '(default 0.2)')
    p.add_argument('--json', default='', help='write the figures and the confusion matrix as JSON')
    p.add_argument('--html', default='', help='write an HTML report, with its PNG plots beside it')
    add_model_args(p)
    p.set_defaults(func=cmd_eval_bag)

    p = sub.add_parser('carla-capture', help='drive in CARLA and write camera + semantic frames into a bag',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Connect to a running CARLA server, spawn an ego vehicle on autopilot with an '
                                   'RGB and a semantic segmentation camera at the same pose, step the simulator in '
                                   'synchronous mode and write each tick\'s frames into a rosbag2 bag (MCAP) on '
                                   'carla-ros-bridge\'s topics, in the layout eval-bag reads. Ctrl-C ends it '
                                   'cleanly (world settings restored, actors destroyed). Needs the carla package '
                                   '(pip install carla==<server version>).\n\nexample:\n'
                                   '  seg-perception carla-capture -o out/carla_town10 --town Town10HD --frames 600\n'
                                   '  seg-perception eval-bag out/carla_town10 --gt-topic '
                                   '/carla/ego_vehicle/semantic_segmentation_front/image --gt-format carla '
                                   '--image-topic /carla/ego_vehicle/rgb_front/image --run --html out/town10.html')
    p.add_argument('-o', '--out', required=True, help='bag folder to create (must not exist)')
    p.add_argument('--host', default='localhost', help='CARLA server host')
    p.add_argument('--port', type=int, default=2000, help='CARLA server port')
    p.add_argument('--tm-port', type=int, default=8000, help='traffic manager port')
    p.add_argument('--frames', type=int, default=0, help='ticks to write; 0: until Ctrl-C')
    p.add_argument('--fps', type=float, default=20.0, help='simulation steps per simulated second')
    p.add_argument('--width', type=int, default=800, help='camera image width, pixels')
    p.add_argument('--height', type=int, default=600, help='camera image height, pixels')
    p.add_argument('--fov', type=float, default=90.0, help='horizontal field of view, degrees')
    p.add_argument('--mount', type=float, nargs=2, default=(2.0, 2.0), metavar=('X', 'Z'),
                   help='camera position on the vehicle, metres forward and up')
    p.add_argument('--pitch', type=float, default=0.0, help='camera pitch, degrees')
    p.add_argument('--town', default='', help='load this map first (default: the one running)')
    p.add_argument('--seed', type=int, default=None, help='vehicle, spawn point and traffic manager seed')
    p.add_argument('--role-name', default='ego_vehicle', help='ego vehicle role name (topic prefix)')
    p.add_argument('--timeout', type=float, default=10.0, metavar='S', help='client and sensor timeout')
    p.add_argument('-q', '--quiet', action='store_true', help='no progress line')
    p.set_defaults(func=cmd_carla_capture)
