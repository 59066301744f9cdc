"""The roles whose real work needs the VM lab's kernels (the kernel
initiator's login, the OCFS2 mount, DRBD's resources) change nothing on a
second run. Molecule's idempotence step runs all of site.yml a second time
in the container lab; here, under TCG, a whole second run costs too long
for CI, so these roles run again alone, as site.yml runs them: without a
fact gathering of their own (site.yml gathers once, in its first play)."""

from __future__ import annotations

import re
import subprocess


def test_storage_roles_change_nothing_the_second_time(inv, tmp_path):
    playbook = tmp_path / "storage-again.yml"
    playbook.write_text(
        "- name: The storage roles again\n  hosts: hypervisors\n  gather_facts: false\n  roles:\n"
        "    - role: havirt.cluster.iscsi_initiator\n    - role: havirt.cluster.ocfs2\n    - role: havirt.cluster.drbd\n")
    run = subprocess.run(["ansible-playbook", *inv.inventory_args(), str(playbook)],
                         cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.M)
    assert len(recap) == len(inv.group("hypervisors")), run.stdout[-2000:]
    # Each change under the task (or handler) that made it: a bare
    # "changed: [servvirt1]" did not say which (trixie, 2026-12-02).
    changed, task = [], ""
    for line in run.stdout.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.rstrip("* ")
        elif line.startswith("changed:"):
            changed.append("%s: %s" % (task, line))
    assert all(int(n) == 0 for _, n in recap), "\n".join(changed) + "\n" + run.stdout[-3000:]


def test_new_o2cb_timeouts_on_the_mounted_cluster_are_refused_and_nothing_changes(inv, tmp_path):
    """O2CB nodes whose timeouts differ refuse each other, and a mounted
    node keeps its own: the ocfs2 role asked for another heartbeat
    threshold while /cluster is mounted fails on every node, naming the
    running and the wanted value and the way to change it, before it
    writes /etc/default/o2cb."""
    hypervisors = inv.group("hypervisors")
    name = inv.role_var(hypervisors[0], "ocfs2", "ocfs2_cluster_name")
    running = int(inv.node(hypervisors[0]).check_output(
        "cat /sys/kernel/config/cluster/%s/heartbeat/dead_threshold", name))
    files = {h: inv.node(h).check_output("sha256sum /etc/default/o2cb") for h in hypervisors}
    playbook = tmp_path / "ocfs2-other-timeout.yml"
    playbook.write_text(
        "- name: The ocfs2 role with another heartbeat threshold\n  hosts: hypervisors\n  gather_facts: false\n"
        "  roles:\n    - role: havirt.cluster.ocfs2\n")
    run = subprocess.run(["ansible-playbook", *inv.inventory_args(), str(playbook),
                          "-e", f"ocfs2_heartbeat_threshold={running + 4}"],
                         cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=900)
    assert run.returncode != 0, run.stdout[-3000:]
    for host in hypervisors:
        assert f"{host} runs with ocfs2_heartbeat_threshold: {running} -> {running + 4}" in run.stdout, \
            run.stdout[-3000:]
        assert inv.node(host).check_output("sha256sum /etc/default/o2cb") == files[host], host
        assert int(inv.node(host).check_output(
            "cat /sys/kernel/config/cluster/%s/heartbeat/dead_threshold", name)) == running, host
    assert "unmount it on every node" in run.stdout
    assert re.search(r"^\S+\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", run.stdout, re.M), run.stdout[-2000:]
