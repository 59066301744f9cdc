"""Helpers shared by both labs' verify steps. Importing the package makes
the checkout importable as ansible_collections.havirt.cluster, so the tests
read command output with the modules' own parsers."""

import sys
from pathlib import Path

_COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))
