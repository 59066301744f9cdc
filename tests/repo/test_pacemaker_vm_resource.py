"""The pacemaker role's VM resource (templates/vm-resource.xml.j2), rendered
offline with the CIB's resources section captured in the container lab
(tests/unit/plugins/module_utils/fixtures/pacemaker_status): what an
administrator or a killed migrate.yml set on a VM's resource is kept, read
with the havirt.cluster.cib_meta_attributes filter.

The template calls a filter of this collection, which Ansible finds only
when the collection was imported through its collection loader: the unit
tests import it as a plain package first, so the templates are rendered in
a fresh Python (one for the whole module)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "pacemaker_status"
UNMANAGED = (FIXTURES / "resources-maintenance-unmanaged.xml").read_text()
# cibadmin --modify by hand: value before name (the former regular expression wanted name, then value).
BY_HAND = UNMANAGED.replace('name="is-managed" value="false"', 'value="false" name="is-managed"')

RENDER = r"""
import json, sys
from pathlib import Path
import yaml
root = Path(sys.argv[1])
sys.path.insert(0, str(root / "tests" / "repo"))
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([str(root / "collections")])
from offline_templating import render
role = root / "roles" / "pacemaker"
base = {}
for part in ("defaults", "vars"):
    base.update(yaml.safe_load((role / part / "main.yml").read_text()))
out = {}
for key, case in json.load(sys.stdin).items():
    variables = dict(base, __vm={"name": case["vm"], "memory_mb": 128, "preferred": "servvirt1", "disk": {"lun": 1}},
                     __stopped=case["stopped"])
    if case["cib"] is not None:
        variables["__cib_now"] = case["cib"]
    out[key] = render(role / "templates" / "vm-resource.xml.j2", variables)
print(json.dumps(out))
"""

CASES = {
    "no-cib": ("passata", None, False),
    "healthy-2.1.5": ("passata", (FIXTURES / "resources-healthy.xml").read_text(), False),
    "healthy-3.0.0": ("passata", (FIXTURES / "resources-healthy-pacemaker3.xml").read_text(), False),
    "unmanaged-passata": ("passata", UNMANAGED, False),
    "unmanaged-speedauth": ("speedauth", UNMANAGED, False),
    "unmanaged-masterauth": ("masterauth", UNMANAGED, False),
    "by-hand-speedauth": ("speedauth", BY_HAND, False),
    "new-stopped": ("new", (FIXTURES / "resources-healthy-pacemaker3.xml").read_text(), True),
}


@pytest.fixture(scope="module")
def meta() -> dict:
    cases = {key: {"vm": vm, "cib": cib, "stopped": stopped} for key, (vm, cib, stopped) in CASES.items()}
    run = subprocess.run([sys.executable, "-c", RENDER, str(ROOT)], input=json.dumps(cases),
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    result = {}
    for key, xml in json.loads(run.stdout).items():
        primitive = ET.fromstring(xml)
        assert primitive.get("id") == "vm-" + CASES[key][0]
        result[key] = {p.get("name"): p.get("value") for p in primitive.findall("meta_attributes/nvpair")}
    return result


@pytest.mark.parametrize("key", ["no-cib", "healthy-2.1.5", "healthy-3.0.0"])
def test_a_healthy_vm_has_only_the_roles_meta_attributes(meta, key):
    assert meta[key] == {"allow-migrate": "true"}


def test_what_an_administrator_and_a_killed_move_set_is_kept(meta):
    assert meta["unmanaged-passata"] == {"allow-migrate": "true", "maintenance": "true",
                                         "havirt-move": "servvirt1:servvirt2"}
    assert meta["unmanaged-speedauth"] == {"allow-migrate": "true", "is-managed": "false"}
    assert meta["unmanaged-masterauth"] == {"allow-migrate": "true"}


def test_a_pair_written_by_hand_in_another_order_is_kept_too(meta):
    assert 'value="false" name="is-managed"' in BY_HAND
    assert meta["by-hand-speedauth"] == {"allow-migrate": "true", "is-managed": "false"}


def test_a_new_vm_is_created_stopped(meta):
    assert meta["new-stopped"] == {"allow-migrate": "true", "target-role": "Stopped"}
