"""The seg-perception command: segment files, run the demo, train, evaluate, benchmark.

Everything but ``train``, ``class-bias``, ``interpolate`` and ``eval --crf`` runs on the base install (the ROS
commands with the ``[ros]`` extra); those four need PyTorch (``pip install -e '.[train]'``) and say so when it is
missing. Each subcommand's ``--help`` says what it does and gives an example.
"""

import argparse
import re
import sys

from . import bags, bench, build_engine, demo, evaluate, robustness, segment, training
from .common import CommandError

# in the order --help lists them
COMMAND_GROUPS = (segment, demo, evaluate, bags, training, robustness, build_engine, bench)


def _plain(text: str) -> str:
    """A docstring as --help shows it: ``literal`` marks dropped."""
    return re.sub(r'``(.+?)``', r'\1', text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``seg-perception``: every command group's ``add_parser`` in turn."""
    parser = argparse.ArgumentParser(prog='seg-perception', description=_plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND',
                                help='one of the commands below; COMMAND --help says more')
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``seg-perception`` console script."""
    args = build_parser().parse_args(argv)
    from ..model_files import ModelFileError
    from ..backends import BackendUnavailable

    try:
        return args.func(args)
    except CommandError as e:
        print(f'error: {e}', file=sys.stderr)
        return e.status
    except (ModelFileError, BackendUnavailable, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
