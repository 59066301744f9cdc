"""Live migration in the container lab, through the playbooks a user runs:
migrate.yml moves a running guest that keeps answering, evacuate.yml empties
and refills a hypervisor, bad requests are refused before anything moves,
and a destination whose libvirtd dies mid-migration leaves the VM running
on its source, with nothing left behind."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from test_status import _status

from labkit.vms import (crm, defined_on, http_get, migrate_killed_at, playbook, resource, running_on, vm_spec, vms,
                        wait_for_http)

pytestmark = pytest.mark.usefixtures("probe_tools")
VM = "passata"


def _other(inv, host):
    return next(h for h in inv.group("hypervisors") if h != host)


def _summary(run):
    found = re.findall(r'"msg": "([^"]*)"', run.stdout)
    return found[-1] if found else ""


def _moved(inv, vm, to):
    run = playbook("migrate.yml", "-e", f"vm={vm}", "-e", f"to={to}")
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def test_migrate_moves_a_running_guest_that_keeps_answering(inv):
    source = running_on(VM)[0]
    destination = _other(inv, source)
    storage = inv.node(inv.group("storage")[0])
    # A guest restarted by an earlier test may still be booting.
    wait_for_http(VM, timeout=120)
    # 10 ms ICMP probe from servdb for the whole migration.
    storage.check_output("rm -f /tmp/probe.log; (ping -D -i 0.01 -W 1 %s > /tmp/probe.log 2>&1 &) ; sleep 1",
                         vm_spec(VM)["address"])
    try:
        run = playbook("migrate.yml", "-e", f"vm={VM}")
        time.sleep(1)
    finally:
        storage.run("pkill -INT -x ping")
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(rf"{VM}: {source} -> {destination}, total \d+ ms, downtime \d+ ms, [\d.]+ MiB moved", _summary(run)), run.stdout
    assert running_on(VM) == [destination]
    assert defined_on(VM) == [destination]
    assert http_get(VM).strip() == f"<h1>{VM}</h1>"
    probe = storage.check_output("cat /tmp/probe.log")
    stats = re.search(r"(\d+) packets transmitted, (\d+) received", probe)
    assert stats, probe
    sent, received = int(stats.group(1)), int(stats.group(2))
    # It kept answering: replies before, during and after, and at most a
    # second's worth of probes lost (the benchmark measures the real gap).
    assert sent > 100 and sent - received < 100, probe[-400:] + storage.run("ip neigh; ping -c 3 -W 1 %s", vm_spec(VM)["address"]).stdout


def test_migrating_to_where_it_runs_changes_nothing(inv):
    here = running_on(VM)[0]
    run = _moved(inv, VM, here)
    assert f"{VM}: already on {here}, nothing moved" in _summary(run)
    assert re.search(r"changed=0 ", run.stdout)
    assert running_on(VM) == [here]


@pytest.mark.parametrize("extra,message", [
    (["-e", "vm=nope"], r"'nope' is not one of the cluster's VMs: passata, speedauth, masterauth\. Nothing was changed\."),
    (["-e", f"vm={VM}", "-e", "to=servdb"], r"'servdb' is not a hypervisor \(VMs run only on servvirt1, servvirt2\)"),
    (["-e", f"vm={VM}", "-e", "xen_migration_reserve_memory_mb=100000000"],
     r"not migrating passata to servvirt\d: servvirt\d has \d+ MiB available and keeps 100000000 MiB for itself, "
     r"passata needs 128 MiB\. Nothing was changed\."),
    ([], r"Name the VM: -e vm=NAME, one of passata, speedauth, masterauth"),
    # The inventory says the cluster runs it, under an id the cluster does not know: refused, never moved behind it.
    (["-e", f"vm={VM}", "-e", "havirt_vms_resource_prefix=zz-"],
     r"The cluster has no resource zz-passata, which the inventory says it manages: run site\.yml"),
])
def test_bad_requests_are_refused_before_anything_moves(inv, extra, message):
    before = {v["name"]: running_on(v["name"]) for v in vms()}
    run = playbook("migrate.yml", *extra)
    assert run.returncode != 0, run.stdout
    assert re.search(message, " ".join(run.stdout.split())), run.stdout
    assert not re.search(r"changed=[1-9]", run.stdout)
    assert {v["name"]: running_on(v["name"]) for v in vms()} == before
    assert defined_on(VM) == before[VM]


def test_the_module_refuses_the_source_as_destination(inv):
    """The module's own check (the playbook treats `to` = where it runs as
    done): destination = source is refused, nothing moves."""
    here = running_on(VM)[0]
    run = subprocess.run(
        ["ansible", *inv.inventory_args(), here, "-m", "havirt.cluster.live_migrate",
         "-a", f"name={VM} destination={here} hypervisors={','.join(inv.group('hypervisors'))}"],
        cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert f"the destination {here} is the source itself" in run.stdout
    assert running_on(VM) == [here]


def test_destination_libvirtd_killed_mid_migration(inv):
    """The migration is slowed (8 MiB/s) so that it is surely under way
    when the destination's libvirtd is killed."""
    source = running_on(VM)[0]
    destination = _other(inv, source)
    src, dst = inv.node(source), inv.node(destination)
    proc = subprocess.Popen(
        ["ansible-playbook", *inv.inventory_args(), "migrate.yml", "-e", f"vm={VM}",
         "-e", "xen_migration_bandwidth_mib=8"],
        cwd=inv.PROJECT, env=inv.clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while "Unbounded" not in src.run("virsh domjobinfo %s", VM).stdout:
            assert time.monotonic() < deadline and proc.poll() is None, "the migration never started"
            time.sleep(0.2)
        time.sleep(1)
        dst.check_output("pkill -9 -x libvirtd")
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out
    flat = " ".join(out.split())
    assert re.search(rf"migration of {VM} to {destination} failed: .+\. {VM} runs on {source}\. "
                     rf"(Cleaned up: .*{destination}.*|Nothing was left to clean up\.)", flat), out
    assert "could not" not in flat, out
    # The VM never stopped answering on its source, no job is left, and the
    # destination (libvirtd back by socket activation) holds no copy of it.
    assert running_on(VM) == [source]
    assert http_get(VM).strip() == f"<h1>{VM}</h1>"
    assert "None" in src.check_output("virsh domjobinfo %s", VM)
    assert destination not in defined_on(VM)
    assert dst.run("pgrep -f 'guest=%s,'", VM).rc == 1
    # A re-run succeeds.
    _moved(inv, VM, destination)
    assert running_on(VM) == [destination]


# The task whose header shows that the step before it is done (or, for
# "migrating", under way): migrate.yml is killed there.
KILLED_AFTER = {
    "marked": "Allow two primaries on both copies of its DRBD disk, and promote the destination's",
    "migrating": "Migrate",
    "migrated": "Settle the move",
}


@pytest.mark.parametrize("step", list(KILLED_AFTER))
def test_a_move_killed_at_any_step_is_shown_and_settled_by_a_rerun(inv, step):
    """migrate.yml SIGKILLed (as a lost SSH session or a killed terminal
    would leave it) after marking the VM and putting it in maintenance,
    during the live migration, and after it: status.yml names the VM as not
    watched by the cluster, and running migrate.yml again for it settles the
    move (the VM runs once, watched by the cluster, where the cluster says)."""
    source = running_on(VM)[0]
    destination = _other(inv, source)
    wait_for_http(VM, timeout=120)

    def under_way():
        deadline = time.monotonic() + 60
        while "Unbounded" not in inv.node(source).run("virsh domjobinfo %s", VM).stdout:
            assert time.monotonic() < deadline, "the migration never started"
            time.sleep(0.2)
        time.sleep(1)

    # Slowed (8 MiB/s) only to be killed while the migration is surely under way.
    migrate_killed_at(VM, destination, KILLED_AFTER[step],
                      "-e", f"xen_migration_bandwidth_mib={8 if step == 'migrating' else 0}",
                      before_kill=under_way if step == "migrating" else None)

    meta = crm(inv, "--resource", resource(VM), "--meta", "--get-parameter", "maintenance")
    assert meta.strip() == "true", meta
    lines = _status()
    line = next(line for line in lines if line.startswith(f"vm {VM}: "))
    assert f"NOT WATCHED BY THE CLUSTER: a move {source} -> {destination} was interrupted, in maintenance" in line, lines

    run = _moved(inv, VM, destination)
    assert f"{VM}: an interrupted move {source} -> {destination} settled" in " ".join(_summary(run).split()), run.stdout
    assert running_on(VM) == [destination]
    for name in ("maintenance", "havirt-move"):
        left = inv.node(inv.group("storage")[0]).run(
            "crm_resource --resource %s --meta --get-parameter %s", resource(VM), name)
        # An unset attribute: nothing on stdout ("not found" on stderr, rc 0).
        assert left.stdout.strip() == "", f"{name} is still set: {left.stdout}"
    assert f"running on: {destination}" in crm(inv, "--resource", resource(VM), "--locate")
    wait_for_http(VM, timeout=60)


def test_evacuate_and_restore(inv):
    node = inv.group("hypervisors")[0]
    other = _other(inv, node)
    run = playbook("evacuate.yml", "-e", f"node={node}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{node} evacuated:" in _summary(run)
    for v in vms():
        assert running_on(v["name"]) == [other], v["name"]
        wait_for_http(v["name"], timeout=10)
    # A VM of the node that was stopped meanwhile (through the cluster
    # manager, which would restart one stopped behind its back) is left
    # stopped by the restore.
    stopped = next(v["name"] for v in vms() if v["preferred"] == node and v["name"] != VM)
    crm(inv, "--resource", resource(stopped), "--meta", "--set-parameter", "target-role", "--parameter-value", "Stopped")
    crm(inv, "--wait", "--timeout", "90s")
    assert running_on(stopped) == []
    run = playbook("evacuate.yml", "-e", f"node={node}", "-e", "restore=true")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{node} restored:" in _summary(run)
    assert stopped not in _summary(run)
    assert running_on(stopped) == []
    # Started again, the cluster puts it on its preferred hypervisor.
    crm(inv, "--resource", resource(stopped), "--meta", "--delete-parameter", "target-role")
    crm(inv, "--wait", "--timeout", "90s")
    wait_for_http(stopped, timeout=60)
    for v in vms():
        assert running_on(v["name"]) == [v["preferred"]], v["name"]
        wait_for_http(v["name"], timeout=10)
