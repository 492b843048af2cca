"""``python -m seg_perception.cli``: the ``seg-perception`` command."""

from . import main

raise SystemExit(main())
