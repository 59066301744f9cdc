"""Where the cluster's VMs run, and whether they answer, as the verify
tests of the container lab see it (helpers, not tests)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from typing import Callable

from ansible_collections.havirt.cluster.plugins.module_utils import live_migrate

from labkit import inventory as inv


def vms() -> list[dict]:
    return inv.hostvars(inv.group("hypervisors")[0])["havirt_vms"]


def vm_spec(name: str) -> dict:
    return next(v for v in vms() if v["name"] == name)


def file_vms() -> list[str]:
    """The VMs whose disk is an image file (on the OCFS2 store), not a
    device."""
    return [vm["name"] for vm in vms() if "path" in vm["disk"] and not vm["disk"]["path"].startswith("/dev/")]


def disk_lun(vm: str) -> dict:
    """The storage node's LUN that holds the VM's iSCSI disk: its entry of
    iscsi_target_luns (path, size), LUN n being the list's n-th."""
    storage = inv.group("storage")[0]
    return inv.role_var(storage, "iscsi_target", "iscsi_target_luns")[vm_spec(vm)["disk"]["lun"] - 1]


def resource(vm: str) -> str:
    """The VM's resource id in the cluster manager (pacemaker role)."""
    prefix = inv.hostvars(inv.group("hypervisors")[0]).get("havirt_vms_resource_prefix", "vm-")
    return f"{prefix}{vm}"


def crm(inventory, *argv: str) -> str:
    """Run crm_resource on the storage node (a cluster member that runs no VM)."""
    node = inventory.node(inventory.group("storage")[0])
    return node.check_output("crm_resource " + " ".join(["%s"] * len(argv)), *argv)


def cluster_whole(inventory) -> tuple[bool, str]:
    """Every node online and out of standby, no failed action (crm_mon on
    the storage node); and crm_mon's XML, to show when it is not."""
    xml = inventory.node(inventory.group("storage")[0]).check_output("crm_mon --one-shot --output-as=xml")
    nodes = re.findall(r'<node name="(\w+)" [^>]*online="(\w+)" standby="(\w+)"', xml)
    return (sorted(n for n, online, standby in nodes if online == "true" and standby == "false")
            == inventory.group("cluster") and "<failure " not in xml), xml


def replace_node(node: str, timeout: int) -> str:
    """replace.yml for `node`, which must pass and report the node rebuilt;
    returns its report (the last message it printed)."""
    started = time.monotonic()
    run = playbook("replace.yml", "-e", f"node={node}", timeout=timeout)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    report = re.findall(r'"msg": "([^"]*)"', run.stdout)[-1]
    print(f"replace.yml: {took:.0f} s; {report}")
    assert re.match(rf"{node} rebuilt into the cluster in \d+ s", report), report
    return report


def _domains(node: str, which: str) -> list[str]:
    """virsh list on a hypervisor. libvirtd is socket-activated and exits
    when idle: a connection made while it exits is reset, so ask again."""
    for _ in range(5):
        out = inv.node(node).run("virsh list --name %s", which)
        if out.rc == 0:
            return out.stdout.split()
        time.sleep(2)
    raise AssertionError(f"virsh list on {node}: {out.stderr}")


def xen_virt_caps(node: str) -> set[str] | None:
    """Xen's capabilities on a hypervisor (xl info: virt_caps, such as
    {'pv', 'hvm', 'hap'}); None where Xen does not run."""
    host = inv.node(node)
    if host.run("test -e /proc/xen/capabilities").rc:
        return None
    caps = live_migrate.xen_virt_caps(host.check_output("xl info"))
    if caps is None:
        raise AssertionError(f"xl info on {node} has no virt_caps line")
    return caps


def running_on(vm: str, nodes: list[str] | None = None) -> list[str]:
    """The hypervisors (or those of `nodes`) where libvirt says `vm` is running."""
    return [h for h in (nodes or inv.group("hypervisors")) if vm in _domains(h, "--state-running")]


def defined_on(vm: str) -> list[str]:
    return [h for h in inv.group("hypervisors") if vm in _domains(h, "--all")]


def http_get(vm: str, path: str = "/", timeout: float = 3) -> str:
    """GET from the guest's own address, from the storage node (the guest
    network reaches it; the hypervisors have no address there)."""
    storage = inv.node(inv.group("storage")[0])
    out = storage.run("curl -sS --max-time %s http://%s%s", str(timeout), vm_spec(vm)["address"], path)
    assert out.rc == 0, f"{vm} does not answer HTTP: {out.stderr}"
    return out.stdout


def postmortem(vm: str) -> str:
    """What the hypervisors know of a guest that does not answer: libvirt's
    state and reason, and the end of its console log (vms role: the serial
    console is also kept in a file), so that a failure in CI says whether
    the guest panicked, never started or lost its network. A hypervisor
    ssh cannot reach is said to be so, and the cluster's own account
    follows: its fencing history and what corosync and pacemaker logged of
    lost nodes and fencing in the last 15 minutes on each node reached (a
    node fenced again after it rejoined left only that behind)."""
    lines = []
    for node in inv.group("hypervisors"):
        host = inv.node(node)
        try:
            state = host.run("virsh domstate --reason %s", vm)
        except RuntimeError as unreachable:
            lines.append(f"--- {node}: unreachable: {unreachable.args[0].stderr.strip()}")
            continue
        lines.append(f"--- {node}: " + (state.stdout.strip() if state.rc == 0 else "not defined here"))
        if state.rc == 0 and not state.stdout.startswith("shut off"):
            bridge = inv.role_var(node, "vms", "vms_bridge")
            lines.append(host.run("ip -br link show master %s", bridge).stdout.strip())
        console = host.run("tail -n 25 /var/log/libvirt/qemu/%s-console.log", vm)
        if console.rc == 0 and console.stdout.strip():
            lines.append(f"console log (last 25 lines):\n{console.stdout.rstrip()}")
    return "\n".join(lines + [cluster_account()])


def cluster_account() -> str:
    """The fencing history as the storage node knows it, and each reachable
    node's journal lines of the last 15 minutes about lost nodes and
    fencing (the DC's scheduler says why a node "will be fenced")."""
    storage = inv.group("storage")[0]
    lines = []
    try:
        history = inv.node(storage).run("stonith_admin --history '*' --verbose")
        lines.append(f"--- fencing history ({storage}):\n{(history.stdout + history.stderr).strip()}")
    except RuntimeError:
        lines.append(f"--- fencing history: {storage} unreachable")
    for node in inv.group("cluster"):
        try:
            said = inv.node(node).run(
                "journalctl --since -15min --no-pager -o short-precise -u corosync -u pacemaker "
                "--grep 'fenc|lost|Token has not been received|membership|will be|link: host: .* is down'")
        except RuntimeError:
            continue
        tail = said.stdout.strip().splitlines()[-40:]
        lines.append(f"--- {node}'s journal (lost nodes, fencing; last {len(tail)} lines):\n" + "\n".join(tail))
    return "\n".join(lines)


def wait_for_http(vm: str, timeout: float = 60) -> str:
    """GET until the guest answers. Each try may take up to 10 s: a guest
    that has just arrived by live migration runs on an empty translation
    cache under TCG, and in the VM lab (QEMU inside TCG VMs) its first answer
    took 6 s while pings were answered within 0.2 s; a try cut at 3 s would
    count a slow guest as a dead one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return http_get(vm, timeout=min(10, max(3, deadline - time.monotonic())))
        except AssertionError as failed:
            if time.monotonic() > deadline:
                raise AssertionError(f"{failed}\n{postmortem(vm)}") from None
            time.sleep(1)


def set_stopped(inventory, vm: str, stopped: bool) -> None:
    """The VM's target-role through the cluster: Stopped, or the role's
    default again (started)."""
    args = ("--meta --set-parameter target-role --parameter-value Stopped" if stopped
            else "--meta --delete-parameter target-role")
    inventory.node(inventory.group("storage")[0]).run("crm_resource --resource %s " + args, resource(vm))


def alone(inventory, vm: str, timeout: float = 420) -> None:
    """Only `vm` runs in the lab: every other VM stopped through the
    cluster, `vm` started and answering. In the VM lab a hypervisor is one
    emulated CPU, and nested guests beside a guest under test starve it
    (a 29 s soft lockup after a move, no answer in 420 s after a crash)."""
    others = [v["name"] for v in vms() if v["name"] != vm]
    for other in others:
        set_stopped(inventory, other, True)
    set_stopped(inventory, vm, False)
    crm(inventory, "--wait", "--timeout", "600s")
    for other in others:
        assert running_on(other) == [], f"{other} still runs"
    wait_for_http(vm, timeout=timeout)


def all_running(inventory, timeout: float = 420) -> None:
    """Every VM started through the cluster again and answering."""
    for vm in [v["name"] for v in vms()]:
        set_stopped(inventory, vm, False)
    crm(inventory, "--wait", "--timeout", "600s")
    for vm in [v["name"] for v in vms()]:
        wait_for_http(vm, timeout=timeout)


def playbook(name: str, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-playbook", *inv.inventory_args(), name, *extra],
        cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=timeout,
    )


def run_module(host: str, module: str, args: dict, timeout: int = 600) -> dict:
    """One module on one host, ad hoc (``ansible HOST -m MODULE``, as an
    administrator would run it): its result, failed or not."""
    proc = subprocess.run(
        ["ansible", *inv.inventory_args(), host, "-m", module, "-a", json.dumps(args)],
        cwd=inv.PROJECT, capture_output=True, text=True, timeout=timeout,
        env=inv.clean_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"),
    )
    try:
        # The JSON document first; the project's profile_tasks prints its recap after it.
        data = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])[0]
        return data["plays"][0]["tasks"][0]["hosts"][host]
    except (ValueError, KeyError, IndexError):
        raise AssertionError(f"ansible {host} -m {module} printed no result: {(proc.stdout + proc.stderr)[-2000:]}")


def send_home(*extra: str, also: tuple[dict, ...] = ()) -> None:
    """Every VM of the lab (and the VM specs in `also`) that runs anywhere
    but on its preferred hypervisor moved back there live by migrate.yml
    (its extra arguments `extra`); fails the test when a move fails."""
    for vm in vms() + list(also):
        if running_on(vm["name"]) != [vm["preferred"]]:
            run = playbook("migrate.yml", "-e", f"vm={vm['name']}", "-e", f"to={vm['preferred']}", *extra)
            assert run.returncode == 0, run.stdout[-3000:]


def migrate_killed_at(vm: str, to: str, task: str, *extra: str, before_kill: Callable[[], None] | None = None) -> str:
    """migrate.yml for `vm` to `to`, SIGKILLed (as a lost SSH session or
    a closed terminal leaves it) when the header of the xen_migration
    role's task `task` shows, after `before_kill()` if given. Returns what
    the run printed."""
    header = f"TASK [havirt.cluster.xen_migration : {task}]"
    proc = subprocess.Popen(
        ["ansible-playbook", *inv.inventory_args(), "migrate.yml", "-e", f"vm={vm}", "-e", f"to={to}", *extra],
        cwd=inv.PROJECT, env=inv.clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith(header):
                break
        else:
            raise AssertionError("migrate.yml ended before " + header + "\n" + "".join(seen))
        if before_kill:
            before_kill()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return "".join(seen)


# The README's way to apply a change to havirt_vms alone.
VMS_CHANGE_TAGS = ("--tags", "vms,cluster")


def site(*extra: str, whole: bool = False, timeout: int = 900) -> tuple[subprocess.CompletedProcess, str]:
    """site.yml, whole or only its VMs' and cluster manager's parts
    (VMS_CHANGE_TAGS); the run and what it printed (stdout, stderr)."""
    run = playbook("site.yml", *(() if whole else VMS_CHANGE_TAGS), *extra, timeout=timeout)
    return run, run.stdout + run.stderr
