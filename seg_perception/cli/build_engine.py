"""``seg-perception build-engine``: the options and the runner are :mod:`seg_perception.tensorrt.build`'s."""

import argparse


def add_parser(sub) -> None:
    """Register the build-engine command and its options on ``sub``."""
    from ..tensorrt import build as engine_build

    p = sub.add_parser('build-engine', help=engine_build.HELP, description=engine_build.DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    engine_build.add_arguments(p)
    p.set_defaults(func=engine_build.run)
