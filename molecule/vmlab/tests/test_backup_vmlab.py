"""backup.yml and restore.yml on the disks the container lab cannot give a
VM: a DRBD device (passata, the second source's design) and a qcow2 image
file on OCFS2 (masterauth, the first's), on real kernels.

* Both backed up in one run while they run, passata's guest rewriting
  8 MiB of its disk again and again: the same QEMU processes before and
  after; each manifest names the disk's source (/dev/drbd1, the file) at
  the size the guest reads.
* passata moved live to the second hypervisor first, so that its DRBD
  resource is Primary there: restore.yml must write from there (a
  Secondary's device cannot be opened), not from the first hypervisor of
  the run. The token of the backup reads back, both DRBD copies are the
  same block for block (drbdadm verify), and the VM runs again.
* masterauth restored from the shared store's file: its token reads back.
* passata's backup restored onto speedauth, whose 64 MiB file is smaller
  than passata's device: refused after speedauth was stopped for it, and
  the cluster starts speedauth again with its disk untouched (its token).
* masterauth's qcow2 file, incrementally, its guest having written 8 MiB
  of random data: the first backup after its restore is full and holds
  them (the restore removed the image's dirty bitmap), the next is
  incremental and small; masterauth moved live to the other hypervisor (its bitmap
  in the image on the shared store), the next is incremental there too;
  restore.yml of the latest reads the chain (full, incremental,
  incremental) and the token of that backup reads back. The retention
  (backup_keep 2) keeps the whole chain.

It leaves every VM running on its preferred hypervisor, with the lab's
backup host holding the backups (backup_keep: 2)."""

from __future__ import annotations

import time
import uuid

import pytest

from labkit import backups, drbd, guests
from labkit.vms import crm, playbook, running_on, send_home, set_stopped, vm_spec, vms

pytestmark = pytest.mark.usefixtures("probe_tools")
DRBD_VM = "passata"
FILE_VM = "masterauth"
# A VM whose disk (64 MiB raw file) is smaller than passata's.
SMALL_VM = "speedauth"
GUEST_WAIT = 420
# backup.yml and restore.yml with the three guests running (the
# hypervisors are one emulated CPU each).
RUN_TIMEOUT = 1500
STATE: dict = {}


def _write(vm, tag) -> str:
    token = f"{tag}-{uuid.uuid4().hex[:8]}"
    assert guests.get(vm, f"/cgi-bin/disk?{token}", 60) == f"wrote {token}"
    return token


def _answering(vm):
    """Until the guest answers from this host; each try may take 60 s: with
    two guests on a hypervisor's one emulated CPU, passata's answers took
    24 s (2026-12-07), past labkit's wait_for_http's 10 s a try."""
    deadline = time.monotonic() + GUEST_WAIT
    while True:
        try:
            return guests.get(vm, "/", 60)
        except OSError:
            assert time.monotonic() < deadline, f"{vm} did not answer in {GUEST_WAIT} s"
            time.sleep(2)


def _all_running(inv):
    for vm in vms():
        set_stopped(inv, vm["name"], False)
    crm(inv, "--wait", "--timeout", "600s")
    for vm in vms():
        _answering(vm["name"])


def _read(vm) -> str:
    _answering(vm)
    return guests.get(vm, "/cgi-bin/disk", 60)


def _run(name, *extra):
    started = time.monotonic()
    run = playbook(name, *extra, timeout=RUN_TIMEOUT)
    return run, time.monotonic() - started


@pytest.fixture(scope="module", autouse=True)
def vms_home(inv):
    _all_running(inv)
    yield
    _all_running(inv)
    send_home()


def test_a_drbd_device_and_an_ocfs2_file_backed_up_while_they_run(inv):
    vms = (DRBD_VM, FILE_VM)
    STATE["tokens"] = {vm: _write(vm, "backup") for vm in vms}
    qemu = {vm: guests.qemu_pid(inv, vm) for vm in vms}
    sizes = {vm: int(guests.get(vm, "/cgi-bin/disksize", 30)) for vm in vms}
    before = {vm: backups.complete(inv, vm) for vm in vms}
    assert "rewriting 8 MiB" in guests.get(DRBD_VM, "/cgi-bin/diskload?8", 30)
    try:
        run, took = _run("backup.yml", "-e", f"vm={','.join(vms)}")
    finally:
        guests.get(DRBD_VM, "/cgi-bin/diskload?0", 60)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    print(f"\nbackup.yml of {', '.join(vms)}: {took:.0f} s")
    assert {vm: guests.qemu_pid(inv, vm) for vm in vms} == qemu, "the backup restarted or moved a VM"
    STATE["ids"] = {}
    for vm in vms:
        added = sorted(set(backups.complete(inv, vm)) - set(before[vm]))
        assert len(added) == 1, (vm, before[vm], added)
        STATE["ids"][vm] = added[0]
    sources = {vm: [(d["target"], d["source"]["kind"], d["source"]["path"], d["format"], d["virtual_size"])
                    for d in backups.manifest(inv, vm, STATE["ids"][vm])["disks"]] for vm in vms}
    res = drbd.resource(DRBD_VM)
    assert sources == {
        DRBD_VM: [("vda", "block", f"/dev/drbd{res['minor']}", "raw", sizes[DRBD_VM])],
        FILE_VM: [("vda", "file", vm_spec(FILE_VM)["disk"]["path"], "qcow2", sizes[FILE_VM])],
    }
    print(f"backups {STATE['ids']}: {sources}")


def test_a_drbd_disk_is_restored_where_its_resource_is_primary(inv):
    hypervisors = inv.group("hypervisors")
    # passata on the second hypervisor: its resource Primary there, not on
    # the first hypervisor of the run.
    target = hypervisors[1]
    if running_on(DRBD_VM) != [target]:
        run = playbook("migrate.yml", "-e", f"vm={DRBD_VM}", "-e", f"to={target}", timeout=RUN_TIMEOUT)
        assert run.returncode == 0, run.stdout[-3000:]
    assert drbd.primaries(DRBD_VM) == [target]
    _write(DRBD_VM, "overwritten")
    run, took = _run("restore.yml", "-e", f"vm={DRBD_VM}", "-e", f"backup={STATE['ids'][DRBD_VM]}")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    print(f"\nrestore.yml of {DRBD_VM}: {took:.0f} s")
    res = drbd.resource(DRBD_VM)
    assert f"written by {target} onto {DRBD_VM}'s /dev/drbd{res['minor']}" in run.stdout, run.stdout[-3000:]
    assert _read(DRBD_VM) == f"read {STATE['tokens'][DRBD_VM]}"
    guests.qemu_pid(inv, DRBD_VM)  # runs on exactly one hypervisor
    found = drbd.verify(drbd.primaries(DRBD_VM)[0], DRBD_VM)
    print(f"drbdadm verify {DRBD_VM} after the restore: out of sync {found} KiB")
    assert found == {n: 0 for n in hypervisors}


def _restore_latest(vm, what) -> str:
    """The guest's token overwritten, then restore.yml of its latest
    backup: what the run printed."""
    _write(vm, "overwritten")
    run, took = _run("restore.yml", "-e", f"vm={vm}", "-e", "backup=latest")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    print(f"\nrestore.yml of {what}: {took:.0f} s")
    return run.stdout


def test_an_image_file_on_ocfs2_is_restored(inv):
    stdout = _restore_latest(FILE_VM, FILE_VM)
    assert f"onto {FILE_VM}'s {vm_spec(FILE_VM)['disk']['path']}" in stdout, stdout[-3000:]
    assert _read(FILE_VM) == f"read {STATE['tokens'][FILE_VM]}"


def test_a_restore_refused_after_the_stop_starts_the_vm_again(inv):
    """speedauth's disk is smaller than passata's backup: vm_restore refuses
    before writing, and restore.yml lets the cluster start speedauth again."""
    token = _write(SMALL_VM, "kept")
    run, _took = _run("restore.yml", "-e", f"vm={DRBD_VM}", "-e", f"backup={STATE['ids'][DRBD_VM]}",
                      "-e", f"as={SMALL_VM}")
    said = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"disk vda of {SMALL_VM} ({vm_spec(SMALL_VM)['disk']['path']}) holds 64 MiB" in said, said[-3000:]
    assert "Its disks were not touched; the cluster starts it again." in said, said[-3000:]
    assert _read(SMALL_VM) == f"read {token}"
    guests.qemu_pid(inv, SMALL_VM)


def _backed_up(inv, vm, token_tag):
    """A token written, then backup.yml of ``vm``: (token, manifest)."""
    token = _write(vm, token_tag)
    before = backups.complete(inv, vm)
    run, took = _run("backup.yml", "-e", f"vm={vm}")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    added = sorted(set(backups.complete(inv, vm)) - set(before))
    assert len(added) == 1, (before, added)
    manifest = backups.manifest(inv, vm, added[0])
    print(f"\nbackup.yml of {vm}: {took:.0f} s, {manifest['kind']} ({manifest['kind_detail']}), "
          f"{manifest['disks'][0]['bytes']} bytes stored, on {running_on(vm)}")
    time.sleep(1.1)  # the next backup's id (its second) differs
    return token, manifest


def test_a_qcow2_file_is_backed_up_incrementally_across_a_live_migration(inv):
    hypervisors = inv.group("hypervisors")
    # 8 MiB of random data in the disk (written again and again for 30 s):
    # a full copy holds them, an incremental one only what changed since.
    assert "rewriting 8 MiB" in guests.get(FILE_VM, "/cgi-bin/diskload?8", 60)
    time.sleep(30)
    assert guests.get(FILE_VM, "/cgi-bin/diskload?0", 60) == "stopped"
    _token, first = _backed_up(inv, FILE_VM, "chain-full")
    # restored by the test above: vm_restore removed the image's bitmap.
    assert first["kind"] == "full", first
    assert first["disks"][0]["bytes"] >= 8 << 20, first["disks"]
    _token, second = _backed_up(inv, FILE_VM, "chain-second")
    assert (second["kind"], second["parent"]) == ("incremental", first["id"]), second
    home = running_on(FILE_VM)
    other = [h for h in hypervisors if h not in home][0]
    run = playbook("migrate.yml", "-e", f"vm={FILE_VM}", "-e", f"to={other}", timeout=RUN_TIMEOUT)
    assert run.returncode == 0, run.stdout[-3000:]
    assert running_on(FILE_VM) == [other]
    token, third = _backed_up(inv, FILE_VM, "chain-third")
    assert (third["kind"], third["parent"]) == ("incremental", second["id"]), third
    assert [m["disks"][0]["bytes"] < 1 << 20 for m in (second, third)] == [True, True], (second, third)
    # backup_keep 2: the newest two, and the full backup they build on.
    assert backups.complete(inv, FILE_VM)[-3:] == [first["id"], second["id"], third["id"]]
    stdout = _restore_latest(FILE_VM, f"{FILE_VM}'s chain")
    assert f"incremental, read from {first['id']}, {second['id']}, {third['id']}" in stdout, stdout[-3000:]
    assert _read(FILE_VM) == f"read {token}"
