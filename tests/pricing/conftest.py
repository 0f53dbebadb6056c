"""The pricing example lives in ``examples/`` beside the package: make it importable under plain ``pytest``."""

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)
