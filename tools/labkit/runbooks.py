"""The runbooks of docs/runbooks, followed as written by the labs' tests:
each page's command blocks (``sh node``: on a cluster node, the storage
node by default; ``sh hypervisor``: on a hypervisor the test names; ``sh
controller``: on the controller, the lab's inventory in place of
inventories/mysite), run in order, each one's output returned."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from labkit import failover as fo
from labkit import inventory

BOOKS = inventory.PROJECT / "docs" / "runbooks"


def blocks(path: Path) -> list[tuple[str, str]]:
    """(where, commands) of each ``sh node``, ``sh hypervisor`` and ``sh
    controller`` block."""
    return re.findall(r"^```sh (node|hypervisor|controller)\n(.*?)^```$", path.read_text(), re.M | re.S)


def follow(where: str, commands: str, host: str = "") -> str:
    """A block run as the runbook says: on a cluster node (the storage
    node), on the hypervisor ``host``, or on the controller. Fails the
    test with the output when the block fails."""
    if where in ("node", "hypervisor"):
        run = inventory.node(host or fo.witness()).run("bash -euo pipefail -c %s" % shlex.quote(commands))
        out, err, rc = run.stdout, run.stderr, run.rc
    else:
        commands = commands.replace("inventories/mysite", str(inventory.inventory_path()))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=inventory.PROJECT,
                              env=inventory.clean_env(), capture_output=True, text=True, timeout=900)
        out, err, rc = done.stdout, done.stderr, done.returncode
    assert rc == 0, f"{where}: {commands}\n{out[-3000:]}\n{err[-2000:]}"
    return out
