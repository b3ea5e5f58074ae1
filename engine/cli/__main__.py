"""`python -m engine.cli`: the same as the `dstudio` console script."""

from __future__ import annotations

import sys

from engine.cli import main

sys.exit(main())
