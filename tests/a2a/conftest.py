"""A2A tests: make the helpers next to them importable (``import a2a_helpers``).

This directory must stay without ``__init__.py``: with ``tests`` on the path,
a package named ``a2a`` here would shadow the a2a-sdk.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
