"""Bad inventories that only a node can find are refused with a message that
names the problem, and no node is changed. Each case (tools/labkit/bad_inputs.py,
those marked NEEDS_NODE) is a copy of the lab inventory with one fault, run
with `ansible-playbook site.yml` against the live lab; the cases the
validation plays refuse from the inventory alone run offline, in
tests/repo/test_bad_input_offline.py. The cases run three at a time (each
is mostly Ansible starting up on this machine); the nodes' files and the
cluster's configuration are compared before and after the whole batch, and
each case's own recap must show no change."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from labkit import bad_inputs

CASES = bad_inputs.names(bad_inputs.NEEDS_NODE)

WATCHED = ["/etc/hosts", "/etc/chrony/chrony.conf", "/etc/default/chrony", "/etc/corosync/corosync.conf",
           "/etc/corosync/authkey"]
# Only on the storage node.
WATCHED_STORAGE = ["/etc/tgt/conf.d/havirt.conf", "/etc/systemd/system/tgt.service.d/havirt.conf"]
WATCHED_HYPERVISORS = ["/etc/iscsi/initiatorname.iscsi", "/etc/ocfs2/cluster.conf", "/etc/default/o2cb",
                       "/etc/havirt/vms/passata.xml", "/etc/systemd/network/60-havirt-brguest-port.network",
                       "/etc/drbd.d/global_common.conf", "/etc/drbd.d/havirt-scratch.res"]


def _fingerprint(inv):
    files = {
        name: inv.node(name).check_output(
            "sha256sum " + " ".join(WATCHED + (WATCHED_STORAGE if name in inv.group("storage") else [])
                                    + (WATCHED_HYPERVISORS if name in inv.group("hypervisors") else [])))
        for name in inv.group("cluster")
    }
    # The cluster's configuration, without its status and epoch counters.
    cib = inv.node(inv.group("storage")[0]).check_output("cibadmin --query --scope configuration")
    return files, cib


def _run_case(inv, workdir, case):
    def pinned(name):
        """Paths relative to the inventory (the lab's key and files, the
        cluster CA): kept pointing at the lab's from the copy."""
        values = {"ansible_ssh_private_key_file": str(inv.hostvars("servdb")["ansible_ssh_private_key_file"]),
                  "xen_migration_pki_dir": f"{inv.inventory_path()}-pki"}
        for var in ("vms_files", "pacemaker_fence_agent_files"):
            if var in inv.hostvars(name):
                values[var] = bad_inputs.plain(inv.hostvars(name)[var])
        return values

    inventory = bad_inputs.broken_inventory(inv.inventory_path(), workdir / "inventory", bad_inputs.CASES[case],
                                            inv.hostvars, pinned)
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), "site.yml"],
        cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def refused(inv, tmp_path_factory):
    """Every case run once; the fingerprints of the nodes before and after."""
    before = _fingerprint(inv)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = {case: pool.submit(_run_case, inv, tmp_path_factory.mktemp(case), case) for case in CASES}
        runs = {case: future.result() for case, future in runs.items()}
    return runs, before, _fingerprint(inv)


@pytest.mark.parametrize("case", CASES)
def test_bad_inventory_is_refused_and_changes_nothing(refused, case):
    runs, before, after = refused
    run = runs[case]
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert re.search(bad_inputs.CASES[case].message, " ".join(output.split())), output
    assert not re.search(r"changed=[1-9]", output), output
    assert after == before
