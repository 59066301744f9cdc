"""Make the checkout importable as ansible_collections.havirt.cluster, and
the labs' helper library (tools/labkit) as labkit."""

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[1] / "collections"
if (COLLECTIONS / "ansible_collections" / "havirt" / "cluster").exists():
    sys.path.insert(0, str(COLLECTIONS))

# The labs' helpers (tools/labkit), which tests/repo checks offline.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
