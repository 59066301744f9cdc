"""The labs' shortcuts (their fence agents, their published secrets, their
kernel switch) are refused in any inventory that does not declare itself a
lab, before any host is touched. Offline: the shipped inventories are read
through Ansible's own inventory and hostvars; site.yml (the filter by its FQCN) runs against
copies of inventories/example whose SSH cannot leave this machine."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

ROOT = Path(__file__).resolve().parents[2]  # the checkout (inventories are not in the collection)
# Collections' filters (ansible.utils...: the lab inventory's values use
# them) as ansible-playbook finds them (once per process).
if AnsibleCollectionConfig.collection_finder is None:
    init_plugin_loader([str(ROOT / "collections")])
# The filter's file itself: whether ansible_collections.havirt.cluster was
# imported before or after Ansible's collection loader depends on which
# tests ran first. site.yml below finds it by its FQCN, as users do.
_SPEC = importlib.util.spec_from_file_location("havirt_lab_problems", ROOT / "plugins" / "filter" / "lab_problems.py")
lab_filter = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lab_filter)

TASK = "havirt.cluster.inventory : Refuse the labs' shortcuts outside a lab"
# The inventory role's argument spec check (the havirt_* types), on each host, before its tasks.
SPEC = "havirt.cluster.inventory : Validating arguments against arg spec 'main'"
ANY_SPEC = " : Validating arguments against arg spec "


def _after_spec(ran):
    """``ran`` without the argument spec checks, which must all have passed."""
    checks = [result for name, _, result in ran if name.startswith(SPEC)]
    assert checks and not any(result.get("failed") for result in checks), ran
    return [entry for entry in ran if ANY_SPEC not in entry[0]]
ALL = "(servdb, servvirt1, servvirt2)"


def _problems(name, **override):
    """What site.yml's first play computes, for inventories/NAME with ``override``
    set on every host (as set_fact would: above the inventory)."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(ROOT / "inventories" / name)])
    variables = VariableManager(loader=loader, inventory=inventory)
    for host in inventory.get_hosts():
        for key, value in override.items():
            variables.set_host_variable(host.name, key, value)
    # Ansible's own lazily templated hostvars, as a play sees them.
    hostvars = HostVars(inventory=inventory, variable_manager=variables, loader=loader)
    return lab_filter.lab_problems(inventory.get_groups_dict()["cluster"], hostvars)


@pytest.mark.parametrize("name", ["lab", "vmlab", "example"])
def test_the_shipped_inventories_pass(name):
    assert _problems(name) == []


def test_the_container_lab_without_havirt_lab_is_refused():
    problems = _problems("lab", havirt_lab=None)
    assert problems == [
        "pacemaker_fence_devices, device fence-lab: agent fence_podman is a lab's fence agent (it powers lab nodes off "
        f"through the lab's own podman or QEMU, never a server) {ALL}",
        "pacemaker_fence_agent_files, item 1 (/usr/sbin/fence_podman): fence_podman is a lab's fence agent (it "
        f"powers lab nodes off through the lab's own podman or QEMU, never a server) {ALL}",
        f"pacemaker_corosync_authkey: its value starts with 'lab-only-', a lab's published secret {ALL}",
        f"havirt_iscsi_chap_password: its value starts with 'lab-only-', a lab's published secret {ALL}",
        f"havirt_pki_ca_passphrase: its value starts with 'lab-only-', a lab's published secret {ALL}",
        f"drbd_shared_secret: its value starts with 'lab-only-', a lab's published secret {ALL}",
        f"pacemaker_alert_mail_password: its value starts with 'lab-only-', a lab's published secret {ALL}",
        "havirt_lab_without_kernel_modules is true: a role goes on where the kernel cannot load its module (only a "
        f"container lab's nodes, which share their host's kernel, need that) {ALL}",
    ]
    assert "lab-only-chap-secret" not in repr(problems)


def test_the_vm_lab_without_havirt_lab_is_refused():
    problems = _problems("vmlab", havirt_lab=None)
    assert [p.split(":")[0] for p in problems] == [
        "pacemaker_fence_devices, device fence-vmlab", "pacemaker_fence_agent_files, item 1 (/usr/sbin/fence_qmp)",
        # CHAP: the container lab's file, linked (inventories/vmlab/group_vars/cluster/iscsi.yml).
        "pacemaker_corosync_authkey", "havirt_iscsi_chap_password", "havirt_pki_ca_passphrase", "drbd_shared_secret"]
    assert "vmlab-only-drbd-secret" not in repr(problems)
    assert not any(p.startswith("havirt_lab_without_kernel_modules") for p in problems)


# site.yml itself. Every case is a copy of inventories/example; SSH goes
# through ProxyCommand=false, so a task that needs a host finds it
# unreachable at once and nothing leaves this machine.
LAB_AGENT = {"src": str(ROOT / "tools" / "lab" / "files" / "fence_podman"), "dest": "/usr/sbin/fence_podman"}
LAB_SECRET = "lab-only-drbd-secret-never-printed"


def _site(tmp_path, **group_vars):
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "example", inventory)
    (inventory / "group_vars" / "cluster" / "test.yml").write_text(yaml.safe_dump(group_vars))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    # Only the json callback (it is the stdout one, so listing it adds nothing): ansible-core 2.19+
    # refuses an empty ANSIBLE_CALLBACKS_ENABLED ("A non-empty plugin name is required").
    env.update(ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.json", ANSIBLE_TIMEOUT="5")
    run = subprocess.run(["ansible-playbook", "-i", str(inventory), "site.yml",
                          "-e", "ansible_ssh_common_args='-o ProxyCommand=false'"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    plays = json.loads(run.stdout)["plays"]
    ran = [(t["task"]["name"], host, result) for play in plays for t in play["tasks"]
           for host, result in t["hosts"].items()]
    return run, ran


def test_site_refuses_a_lab_agent_and_secret_before_any_host_is_touched(tmp_path):
    run, ran = _site(tmp_path, pacemaker_fence_agent_files=[LAB_AGENT], drbd_shared_secret=LAB_SECRET)
    assert run.returncode != 0
    ran = _after_spec(ran)
    # The first play's storage-mode check, then this one, which failed: nothing after it ran.
    assert [(name, host) for name, host, _ in ran] == [("havirt.cluster.inventory : Check the storage modes", "servdb"), (TASK, "servdb")]
    result = ran[-1][2]
    assert result["failed"] and not result.get("unreachable")
    assert result["msg"].startswith("This inventory is not a lab (havirt_lab is not true) but uses what only the "
                                    "project's labs may: pacemaker_fence_agent_files, item 1 (/usr/sbin/fence_podman): "
                                    f"fence_podman is a lab's fence agent")
    assert f"drbd_shared_secret: its value starts with 'lab-only-', a lab's published secret {ALL}" in result["msg"]
    assert "No host was changed." in result["msg"]
    assert LAB_SECRET not in run.stdout + run.stderr


@pytest.mark.parametrize("group_vars", [
    pytest.param({}, id="example-as-shipped"),
    pytest.param({"havirt_lab": True, "pacemaker_fence_agent_files": [LAB_AGENT], "drbd_shared_secret": LAB_SECRET},
                 id="declared-lab"),
])
def test_site_lets_other_inventories_past_the_check(tmp_path, group_vars):
    run, ran = _site(tmp_path, **group_vars)
    ran = _after_spec(ran)
    checked = [result for name, _, result in ran if name == TASK]
    assert len(checked) == 1 and not checked[0].get("failed"), ran
    # The play went on to the roles' checks (which stop at the example's
    # vault variables, not defined here).
    assert [name for name, _, _ in ran].index(TASK) == 1
    assert list(dict.fromkeys(name for name, _, _ in ran[2:]))[:2] == [
        "havirt.cluster.inventory : Put every node in the groups of the cluster's storage modes",
        "havirt.cluster.hosts : Check that the inventory group exists"]
    assert not any(result.get("unreachable") for _, _, result in ran)
