"""Make the checkout importable as ansible_collections.havirt.cluster."""

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[1] / "collections"
if (COLLECTIONS / "ansible_collections" / "havirt" / "cluster").exists():
    sys.path.insert(0, str(COLLECTIONS))
