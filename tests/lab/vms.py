"""Where the cluster's VMs run, and whether they answer, as the verify
tests of the container lab see it (helpers, not tests)."""

from __future__ import annotations

import subprocess
import time

from tests.lab import inventory as inv


def vms() -> list[dict]:
    return inv.hostvars(inv.group("hypervisors")[0])["havirt_vms"]


def vm_spec(name: str) -> dict:
    return next(v for v in vms() if v["name"] == name)


def resource(vm: str) -> str:
    """The VM's resource id in the cluster manager (pacemaker role)."""
    prefix = inv.hostvars(inv.group("hypervisors")[0]).get("havirt_vms_resource_prefix", "vm-")
    return f"{prefix}{vm}"


def crm(inventory, *argv: str) -> str:
    """Run crm_resource on the storage node (a cluster member that runs no VM)."""
    node = inventory.node(inventory.group("storage")[0])
    return node.check_output("crm_resource " + " ".join(["%s"] * len(argv)), *argv)


def _domains(node: str, which: str) -> list[str]:
    """virsh list on a hypervisor. libvirtd is socket-activated and exits
    when idle: a connection made while it exits is reset, so ask again."""
    for _ in range(5):
        out = inv.node(node).run("virsh list --name %s", which)
        if out.rc == 0:
            return out.stdout.split()
        time.sleep(2)
    raise AssertionError(f"virsh list on {node}: {out.stderr}")


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


def wait_for_http(vm: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return http_get(vm)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def playbook(name: str, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-playbook", "-i", str(inv.inventory_path()), name, *extra],
        cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=timeout,
    )
