"""status.yml: the cluster on one screen, checked against what the nodes
themselves say (crm_mon, libvirt, the backup host's files, systemd),
including a failed action made for the test, and with the first node out
of Ansible's reach."""

from __future__ import annotations

import re

from labkit import failover as fo
from labkit import inventory
from labkit import vms as lab_vms
from labkit.status import status_lines as _status


def test_status_tells_what_the_nodes_say(inv):
    lines = _status()
    cluster = inv.group("cluster")
    assert lines[0].startswith(f"cluster: {len(cluster)}/{len(cluster)} nodes online ({', '.join(cluster)}), "
                               "quorum: yes, DC: "), lines
    for vm in lab_vms.vms():
        assert f"vm {vm['name']}: {' AND '.join(lab_vms.running_on(vm['name']))}" in lines, lines
    assert "failed actions: none" in lines
    # Each guest has the agent's channel (no NO CHANNEL); the lab's busybox guests run no agent.
    names = ", ".join(sorted(vm["name"] for vm in lab_vms.vms()))
    assert ("guest agents: answering: none; NOT ANSWERING (qemu-guest-agent not running in the guest, or busy): "
            f"{names}") in lines, lines
    for name in cluster:
        assert any(re.match(rf"{name}: clock [0-9.]+ seconds (fast|slow)", line) for line in lines), lines
    # Containers cannot load DRBD: the status says so instead of guessing.
    for name in inv.group("hypervisors"):
        assert any(line.startswith(f"{name}: ") and line.endswith("DRBD: no drbd module") for line in lines), lines
    for dead in inv.group("hypervisors"):
        need = sum(vm["memory_mb"] for vm in lab_vms.vms() if lab_vms.running_on(vm["name"]) == [dead])
        # The lab's cluster weighs capacity (placement-strategy balanced): the room is pacemaker's count.
        assert any(re.match(rf"if {dead} dies: \S+ must take {need} MiB and has \d+ MiB to spare \(\d+ of its \d+ MiB "
                            r"capacity free in the cluster, -?\d+ available now less the reserve\) -> OK$", line)
                   for line in lines), lines


def test_status_reads_the_cluster_from_a_node_ansible_reaches(inv):
    """The first node (servdb) out of Ansible's reach, its sshd stopped and
    its sessions cut (the node itself, and the cluster, untouched): the
    cluster's view is read from the next node, and servdb's line says
    UNREACHABLE. Before the status_reader filter the whole report said
    that pacemaker did not answer."""
    cluster = inv.group("cluster")
    first = cluster[0]
    cut = "systemctl stop ssh.socket ssh.service 2>/dev/null; pkill -x sshd; pkill -x sshd-session; true"
    fo.podman("exec", f"havirt-{first}", "bash", "-c", cut)
    try:
        lines = _status()
    finally:
        fo.podman("exec", f"havirt-{first}", "systemctl", "start", "ssh.service")
        inventory.node.cache_clear()
    assert lines[0].startswith(f"cluster: {len(cluster)}/{len(cluster)} nodes online ({', '.join(cluster)}), "
                               "quorum: yes, DC: "), lines
    assert any(line.startswith(f"{first}: UNREACHABLE (") for line in lines), lines
    for vm in lab_vms.vms():
        assert f"vm {vm['name']}: {' AND '.join(lab_vms.running_on(vm['name']))}" in lines, lines
    assert "failed actions: none" in lines, lines


def test_status_shows_a_failed_action(inv):
    node = inv.node(inv.group("storage")[0])
    node.check_output("cibadmin --create --scope resources --xml-text "
                      "'<primitive id=\"status-dummy\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/>'")
    try:
        node.check_output("crm_resource --wait --timeout 30s")
        where = node.check_output("crm_resource --resource status-dummy --locate")
        host = re.search(r"running on: (\S+)", where).group(1)
        node.check_output(f"crm_resource --fail --resource status-dummy --node {host}")
        lines = _status()
        failed = next(line for line in lines if line.startswith("failed actions: "))
        assert re.search(rf"status-dummy_\w+ on {host} \([^)]+\)", failed), lines
    finally:
        node.run("crm_resource --resource status-dummy --set-parameter target-role --meta --parameter-value Stopped")
        node.run("crm_resource --wait --timeout 30s")
        node.run("cibadmin --delete --xml-text '<primitive id=\"status-dummy\"/>'")
        node.run("crm_resource --cleanup --resource status-dummy")


def test_status_tells_the_newest_backup_of_each_vm_and_each_hypervisors_scheduled_run(inv):
    first = inv.group("hypervisors")[0]
    host, directory = inv.role_var(first, "backup", "backup_host"), inv.role_var(first, "backup", "backup_dir")
    schedule = inv.role_var(first, "backup", "backup_schedule")
    # Each hypervisor's scheduled run, now: what status.yml reports is
    # this test's own (an earlier file may have rewritten the units, which
    # systemd then shows as not run yet).
    for name in inv.group("hypervisors"):
        run = inv.node(name).run("systemctl start havirt-backup.service")
        assert run.rc == 0, inv.node(name).run("journalctl -u havirt-backup.service -n 30 --no-pager").stdout
    lines = _status(task_name="Backups")
    found = inv.node(host).check_output(f"find {directory} -mindepth 3 -maxdepth 3 -name manifest.json")
    ids = {}
    for path in found.split():
        ids.setdefault(path.split("/")[-3], []).append(path.split("/")[-2])
    assert ids, f"no backup on {host}: test_backup.py runs before this file"
    newest = "; ".join(f"{vm['name']} {max(ids[vm['name']])} ({len(ids[vm['name']])} kept)" if vm["name"] in ids
                       else f"{vm['name']} NONE" for vm in lab_vms.vms())
    assert lines[0] == f"backups on {host}:{directory}, the newest of each VM: {newest}", lines
    assert lines[1].startswith(f"scheduled backups ({schedule}): "), lines
    for name in inv.group("hypervisors"):
        result = inv.node(name).check_output("systemctl show havirt-backup.service --property=Result --value")
        said = "last run ok" if result == "success" else "last run FAILED"
        assert re.search(rf"{name}: {said} \([^)]*\d\d:\d\d:\d\d[^)]*\), next \w+ \d{{4}}-\d\d-\d\d {re.escape(schedule.split()[-1])}",
                         lines[1]), (name, result, lines)

