"""Fixtures for the VM lab's verify step (inventories/vmlab)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HAVIRT_TEST_INVENTORY", str(ROOT / "inventories" / "vmlab"))

pytest_plugins = ["tests.lab.fixtures"]
