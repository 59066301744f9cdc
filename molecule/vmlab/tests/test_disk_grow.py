"""A running VM's disk grown, and its guest seeing the new size at once
(issue 16: a disk grows, "the guest sees it at next boot or live where
QEMU allows"), for both disks a VM of the second source's design and of
the first's has:

* passata, on the DRBD resource passata: both hypervisors' backing devices
  (/dev/vdb) grown by 64 MiB, as an lvextend grows them on a real host
  (here the lab VMs' QEMU block_resize: the hypervisors' kernels see
  their disk grow); then site.yml with the README's tags. The drbd role
  grows the resource online (drbdadm resize: internal metadata moved, the
  new part resynced) to exactly what the backing devices hold by the
  collection's own reckoning (module_utils/drbd.usable_bytes), the vms
  role gives the running guest the new size (havirt.cluster.
  domain_disk_size, libvirt's block resize).
* masterauth, on a qcow2 file on the OCFS2 store: its size in havirt_vms
  raised by 32 MiB (extra variables): QEMU grows the file it holds locked
  on the hypervisor that runs it, and both hypervisors read the file's new
  virtual size.

Each guest reads its disk's new size from its own kernel
(/cgi-bin/disksize), from the same QEMU process as before; passata's
token, written before, reads back; DRBD is whole with nothing out of sync
(drbdadm verify). A second run (storage and vms: the grow tasks') grows
nothing.

Last of the VM lab: the lab's DRBD backing devices and masterauth's file
stay bigger than a new lab's (test_replace.py rebuilds a hypervisor's
disks at the lab's size, which DRBD would refuse to resync from a bigger
peer)."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
import yaml

from labkit import drbd, guests
from labkit.vms import playbook, vm_spec, wait_for_http

from ansible_collections.havirt.cluster.plugins.module_utils.drbd import usable_bytes

pytestmark = pytest.mark.usefixtures("probe_tools")
MIB = 1024 * 1024
DRBD_VM = "passata"
FILE_VM = "masterauth"
DRBD_GROW = 64 * MIB
FILE_GROW = 32 * MIB
GUEST_WAIT = 420
# Each run: 1400 s on 2026-12-07 with the three guests running (the
# hypervisors are one emulated CPU each); the second run passed 1800 s.
RUN_TIMEOUT = 3000
# The README's tags for a grown disk: the drbd role (storage), then the
# vms role (vms; cluster for the VMs' resources).
TAGS = ("--tags", "storage,vms,cluster")


def _bytes(host, command, *args) -> int:
    return int(host.check_output(command, *args).strip())


def _drbd_size(inv, node, minor) -> int:
    """The DRBD device's size on that node (sysfs: a Secondary cannot be opened)."""
    return _bytes(inv.node(node), "cat /sys/block/drbd%s/size", str(minor)) * 512


def _guest_disk(vm) -> int:
    return int(guests.get(vm, "/cgi-bin/disksize", 30))


def _lab_drive(device: str) -> str:
    """The lab VM's QEMU drive behind a hypervisor's /dev/vdX (tools/vmlab/up.yml
    gives them in order, if=virtio: vda is virtio0)."""
    return "virtio%d" % (ord(device[-1]) - ord("a"))


def _virtual_size(inv, node, path) -> int:
    info = inv.node(node).check_output("qemu-img info -U --output=json %s", path)
    return json.loads(info)["virtual-size"]


def _vars_file(inv, tmp_path, size):
    """Extra variables: the lab's havirt_vms with masterauth's disk at `size` bytes."""
    roles = yaml.safe_load((inv.inventory_path() / "group_vars" / "cluster" / "roles.yml").read_text())
    for vm in roles["havirt_vms"]:
        if vm["name"] == FILE_VM:
            vm["disk"]["size"] = f"{size // MIB}M"
    path = tmp_path / "grown.yml"
    path.write_text(yaml.safe_dump({"havirt_vms": roles["havirt_vms"]}))
    return path


def _task_output(out: str, task: str) -> str:
    """What a run printed under the task named `task` (every role's)."""
    blocks = re.split(r"(?m)^(?=TASK \[)", out)
    return "".join(b for b in blocks if b.startswith("TASK [") and f" : {task}]" in b.split("\n", 1)[0])


def test_grown_disks_reach_their_running_guests(inv, tmp_path):
    hypervisors = inv.group("hypervisors")
    res = drbd.resource(DRBD_VM)
    backing_dev = res["disk"]
    for vm in (DRBD_VM, FILE_VM):
        wait_for_http(vm, timeout=GUEST_WAIT)
    qemu = {vm: guests.qemu_pid(inv, vm) for vm in (DRBD_VM, FILE_VM)}
    seen = {vm: _guest_disk(vm) for vm in (DRBD_VM, FILE_VM)}
    token = f"grow-{uuid.uuid4().hex[:8]}"
    assert guests.get(DRBD_VM, f"/cgi-bin/disk?{token}", 60) == f"wrote {token}"

    backing = {n: _bytes(inv.node(n), "blockdev --getsize64 %s", backing_dev) for n in hypervisors}
    assert len(set(backing.values())) == 1, backing
    before = backing[hypervisors[0]]
    # The collection's reckoning of DRBD 8.4's internal metadata, against the kernel's.
    assert {n: _drbd_size(inv, n, res["minor"]) for n in hypervisors} == {n: usable_bytes(before) for n in hypervisors}
    assert seen[DRBD_VM] == usable_bytes(before)
    file_path = vm_spec(FILE_VM)["disk"]["path"]
    file_size = seen[FILE_VM] + FILE_GROW

    for node in hypervisors:
        drbd.qmp(node, "block_resize", {"device": _lab_drive(backing_dev), "size": before + DRBD_GROW})
    deadline = time.monotonic() + 60
    while any(_bytes(inv.node(n), "blockdev --getsize64 %s", backing_dev) != before + DRBD_GROW for n in hypervisors):
        assert time.monotonic() < deadline, "the hypervisors' kernels did not see their disks grow"
        time.sleep(2)

    extra = ("-e", f"@{_vars_file(inv, tmp_path, file_size)}")
    started = time.monotonic()
    run = playbook("site.yml", *TAGS, *extra, timeout=RUN_TIMEOUT)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    print(f"\nsite.yml {' '.join(TAGS)}: {took:.0f} s")

    grown = usable_bytes(before + DRBD_GROW)
    assert {n: _drbd_size(inv, n, res["minor"]) for n in hypervisors} == {n: grown for n in hypervisors}
    print(f"DRBD {DRBD_VM}: {usable_bytes(before)} -> {grown} bytes on both; "
          f"new part resynced in {drbd.wait_in_sync(DRBD_VM):.1f} s after the run")
    # The guests see it, from their own kernels, in the QEMU processes they had.
    assert _guest_disk(DRBD_VM) == grown
    assert _guest_disk(FILE_VM) == file_size
    assert {vm: guests.qemu_pid(inv, vm) for vm in (DRBD_VM, FILE_VM)} == qemu
    assert {n: _virtual_size(inv, n, file_path) for n in hypervisors} == {n: file_size for n in hypervisors}
    assert guests.get(DRBD_VM, "/cgi-bin/disk", 60) == f"read {token}"
    print(f"guests: {DRBD_VM} {seen[DRBD_VM]} -> {grown}, {FILE_VM} {seen[FILE_VM]} -> {file_size} bytes, "
          f"same QEMU processes {qemu}")

    # Nothing out of sync in the whole device, the new part included.
    found = drbd.verify(drbd.primaries(DRBD_VM)[0], DRBD_VM)
    print(f"drbdadm verify {DRBD_VM} after the grow: out of sync {found} KiB")
    assert found == {n: 0 for n in hypervisors}

    # The second run with the two tags that hold the grow tasks (the
    # cluster's resources did not change: a run with them took over 1800 s
    # here on 2026-12-07).
    started = time.monotonic()
    again = playbook("site.yml", "--tags", "storage,vms", *extra, timeout=RUN_TIMEOUT)
    assert again.returncode == 0, again.stdout[-4000:]
    print(f"second run: {time.monotonic() - started:.0f} s")
    for task in ("Grow the resources whose backing devices grew", "Grow the running VMs' disks live to their storage's size",
                 "Create or grow the VMs' image files on the shared store"):
        shown = _task_output(again.stdout, task)
        assert shown and "changed:" not in shown, shown
