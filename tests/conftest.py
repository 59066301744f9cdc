"""Make the checkout importable as ansible_collections.havirt.cluster, and
the labs' helper library (tools/labkit) as labkit."""

import sys
from pathlib import Path

from ansible.plugins.loader import init_plugin_loader

COLLECTIONS = Path(__file__).resolve().parents[1] / "collections"
# Ansible's own collection finder, installed before any test imports the
# collection: a plain sys.path import of ansible_collections.* first would
# leave the finder unable to resolve havirt.cluster.* filters in templates
# rendered later in the same run (tests/repo/offline_templating.py).
if (COLLECTIONS / "ansible_collections" / "havirt" / "cluster").exists():
    init_plugin_loader([str(COLLECTIONS)])

# The labs' helpers (tools/labkit), which tests/repo checks offline.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
