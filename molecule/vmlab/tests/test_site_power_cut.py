"""A power cut of the whole site, the storage node back last, in the VM lab
(`iscsi_ocfs2` mode).

The three nodes lose power at once (their QEMUs quit through their
monitors, with every VM running and a token written in each). Power comes
back on the hypervisors first; the storage node, as a slower machine or a
later breaker would, stays off for HOLD s after they answer. Nothing is done
by hand afterwards: no `crm_resource --cleanup`, no login, no mount. The
cluster must bring every VM back by itself once the storage node answers,
each with the token it held: havirt-iscsi-login.service logs the
hypervisors in and mounts /cluster, and a start that failed meanwhile is
tried again after pacemaker_resource_defaults' failure-timeout (the
allowed wait covers it). How long each step took is printed: the
hypervisors' boot, what the cluster did while the storage node was off,
the storage node's power-on, each VM's first answer.

Seen in the lab (2026-12-07): while the storage node was off the two
hypervisors had quorum but started nothing, not even passata on DRBD:
the cluster first fences a node it has never seen (startup-fencing), and
the storage node's fence device could not reach it; no start failed, so
failure-timeout had nothing to do in that run.

Guests are watched from this host (labkit.guests): servdb, the usual
prober, is one of the nodes that goes."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest

from labkit import drbd
from labkit.guests import get, lab_qemu_pid, power_on, process_alive, reachable
from labkit.vms import all_running, postmortem, vms, wait_for_http

GUEST_WAIT = 420
# The storage node stays off this long after the hypervisors answer SSH:
# their cluster forms without it, their boot login has failed, the VMs
# stored on it cannot start.
HOLD = 240


def _failure_timeout_s(inv) -> float:
    """pacemaker_resource_defaults' failure-timeout, in seconds (pacemaker's
    forms: 600, 600s, 10min, 1h)."""
    defaults = inv.role_var(inv.group("hypervisors")[0], "pacemaker", "pacemaker_resource_defaults")
    value = str(defaults.get("failure-timeout", ""))
    match = re.fullmatch(r"(\d+)\s*(s|sec|m|min|h|hr)?", value)
    assert match, f"pacemaker_resource_defaults has no failure-timeout ({value!r}): failed starts are never retried"
    unit = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}[match.group(2) or ""]
    return float(match.group(1)) * unit


def _answers(vm: str) -> bool:
    try:
        get(vm, "/", 5)
        return True
    except OSError:
        return False


def _read_token(vm: str) -> str:
    out = get(vm, "/cgi-bin/disk", 20).split()
    return out[-1] if len(out) == 2 and out[0] == "read" else ""


def _cluster_view(inv, node: str) -> str:
    """crm_mon's short view from a node, or why there is none."""
    out = inv.node(node).run("crm_mon --one-shot --inactive")
    return out.stdout if out.rc == 0 else f"crm_mon on {node}: rc {out.rc} {out.stderr.strip()}"


@pytest.fixture(scope="module", autouse=True)
def _every_vm_running(inv):
    all_running(inv, timeout=GUEST_WAIT)
    yield
    all_running(inv, timeout=GUEST_WAIT)


def test_after_a_site_power_cut_the_cluster_brings_every_vm_back_by_itself(inv):
    storage_name = inv.group("storage")[0]
    hypervisors = inv.group("hypervisors")
    names = [vm["name"] for vm in vms()]
    retry_after = _failure_timeout_s(inv)
    tokens = {}
    for vm in names:
        wait_for_http(vm, timeout=GUEST_WAIT)
        reachable(vm)
        tokens[vm] = f"cut-{uuid.uuid4().hex[:8]}"
        assert get(vm, f"/cgi-bin/disk?{tokens[vm]}", 30) == f"wrote {tokens[vm]}", vm
    on_drbd = {res["name"] for res in drbd.resources()}
    for vm in names:
        if vm in on_drbd:
            drbd.wait_in_sync(vm)

    # The power cut: every node at once.
    pids = {node: lab_qemu_pid(node) for node in inv.group("cluster")}
    for node in inv.group("cluster"):
        try:
            drbd.qmp(node, "quit")
        except (OSError, ValueError):
            pass  # QEMU may close its monitor before it answers
    deadline = time.monotonic() + 60
    while any(process_alive(pid) for pid in pids.values()):
        assert time.monotonic() < deadline, "a node's QEMU did not quit"
        time.sleep(1)
    start = time.monotonic()
    print(f"\npower cut of {', '.join(inv.group('cluster'))}; the VMs' tokens {tokens}")

    # The hypervisors come back first.
    took = power_on(hypervisors)
    print(f"+{time.monotonic() - start:.0f} s: {', '.join(hypervisors)} answer SSH ({took:.0f} s to boot)")
    timeline = []
    hold_end = time.monotonic() + HOLD
    while time.monotonic() < hold_end:
        up = [vm for vm in names if _answers(vm)]
        timeline.append((time.monotonic() - start, up))
        time.sleep(15)
    print(f"while {storage_name} was off, VMs answering: "
          + "; ".join(f"+{t:.0f} s {up or 'none'}" for t, up in timeline))
    print(f"the cluster before {storage_name}'s power-on:\n{_cluster_view(inv, hypervisors[0])}")
    units = inv.node(hypervisors[0]).run("systemctl status --no-pager --lines=3 havirt-iscsi-login.service")
    print(units.stdout)

    # Then the storage node; nothing else is done by hand.
    took = power_on()
    storage_on = time.monotonic() - start
    print(f"+{storage_on:.0f} s: {storage_name} answers SSH ({took:.0f} s to boot)")
    back = {}
    deadline = time.monotonic() + retry_after + 600
    while len(back) < len(names):
        for vm in names:
            if vm not in back and _answers(vm):
                back[vm] = time.monotonic() - start
                print(f"+{back[vm]:.0f} s: {vm} answers")
        if time.monotonic() > deadline:
            view = _cluster_view(inv, storage_name)
            raise AssertionError(
                f"{sorted(set(names) - set(back))} not back {timedelta(seconds=round(time.monotonic() - start))} after "
                f"the power cut, {retry_after:.0f} s failure-timeout + 600 s after {storage_name}'s power-on, with "
                f"nothing done by hand:\n{view}" + "".join(postmortem(vm) for vm in names if vm not in back))
        time.sleep(5)

    # Each VM with what it held; /cluster on both hypervisors; every node online.
    for vm in names:
        assert _read_token(vm) == tokens[vm], f"{vm} lost the token it wrote before the power cut"
    for hypervisor in hypervisors:
        host = inv.node(hypervisor)
        assert host.check_output("findmnt -n -o FSTYPE /cluster").strip() == "ocfs2", hypervisor
    view = _cluster_view(inv, storage_name)
    assert f"Online: [ {' '.join(sorted(inv.group('cluster')))} ]" in view, view
    print(f"every VM back with its token, by the cluster alone; the last {max(back.values()):.0f} s after the cut, "
          f"{max(back.values()) - storage_on:.0f} s after {storage_name}'s power-on (failure-timeout "
          f"{retry_after:.0f} s)\n{view}")
