"""backup.yml and restore.yml on passata (its disk an iSCSI LUN that QEMU
reaches with CHAP): a backup taken while the guest rewrites 8 MiB of its
disk again and again, the same QEMU process running before and after; the
lab's backup_keep newest backups stay on servdb; a restore of a chosen
backup and of the latest one, each after the guest overwrote the token it
had written, brings back the token that backup holds; a backup that does
not exist and a VM that is not one are refused with nothing stopped."""

from __future__ import annotations

import json
import time

import pytest

from labkit import failover as fo
from labkit import vms as lab_vms

pytestmark = pytest.mark.usefixtures("probe_tools")

VM = "passata"
STATE: dict = {"tokens": {}, "ids": []}


def _backup_var(inv, name):
    return inv.role_var(inv.group("hypervisors")[0], "backup", name)


def _backup_host(inv):
    return inv.node(_backup_var(inv, "backup_host"))


def _stored(inv) -> list[str]:
    """The complete backups of VM on the backup host, oldest first."""
    out = _backup_host(inv).check_output(
        f"find {_backup_var(inv, 'backup_dir')}/{VM} -mindepth 2 -maxdepth 2 -name manifest.json")
    return sorted(line.split("/")[-2] for line in out.split())


def _manifest(inv, backup_id) -> dict:
    return json.loads(_backup_host(inv).check_output(
        f"cat {_backup_var(inv, 'backup_dir')}/{VM}/{backup_id}/manifest.json"))


def _qemu(inv) -> tuple[str, str]:
    """(hypervisor, pid) of the VM's QEMU process."""
    hosts = lab_vms.running_on(VM)
    assert len(hosts) == 1, f"{VM} runs on {hosts}"
    return hosts[0], inv.node(hosts[0]).check_output(f"pgrep -f -- '-name guest={VM},'")


def _read_token() -> str:
    return lab_vms.wait_for_http(VM) and lab_vms.http_get(VM, "/cgi-bin/disk", timeout=10).strip()


def _backup(tag: str) -> str:
    """A token written, then backup.yml; returns the token."""
    token = fo.write_tokens([VM], tag)[VM]
    run = lab_vms.playbook("backup.yml", "-e", f"vm={VM}")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    time.sleep(1.1)  # the next backup's id (its second) differs
    return token


@pytest.fixture(scope="module", autouse=True)
def vm_left_running(inv):
    fo.wait_settled()
    yield
    lab_vms.set_stopped(inv, VM, False)
    try:
        lab_vms.http_get(VM, "/cgi-bin/diskload?0")
    except AssertionError:
        pass
    fo.wait_settled()


def test_a_backup_under_write_load_leaves_the_vm_running_in_the_same_process(inv):
    before = _qemu(inv)
    assert "rewriting 8 MiB" in lab_vms.http_get(VM, "/cgi-bin/diskload?8")
    try:
        STATE["tokens"]["first"] = _backup("backup-first")
    finally:
        lab_vms.http_get(VM, "/cgi-bin/diskload?0")
    assert _qemu(inv) == before, "the backup restarted or moved the VM"
    newest = _stored(inv)[-1]
    manifest = _manifest(inv, newest)
    lun_size = inv.node(inv.group("storage")[0]).check_output(f"stat -c %s {lab_vms.disk_lun(VM)['path']}")
    assert [(d["target"], d["source"]["kind"], d["virtual_size"]) for d in manifest["disks"]] == \
        [("vda", "iscsi", int(lun_size))]
    # The busybox guest runs no agent: the manifest says the copy is
    # crash-consistent, and why.
    assert manifest["consistency"] == "crash-consistent"
    assert "guest agent" in manifest["consistency_detail"]
    STATE["ids"].append(newest)


def test_only_the_newest_backups_stay(inv):
    keep = int(_backup_var(inv, "backup_keep"))
    STATE["tokens"]["second"] = _backup("backup-second")
    STATE["ids"].append(_stored(inv)[-1])
    STATE["tokens"]["third"] = _backup("backup-third")
    STATE["ids"].append(_stored(inv)[-1])
    assert len(set(STATE["ids"])) == 3, STATE["ids"]
    assert _stored(inv) == STATE["ids"][-keep:]


@pytest.mark.parametrize("which", ["second", "latest"])
def test_a_restore_brings_back_what_the_backup_holds(inv, which):
    backup = STATE["ids"][1] if which == "second" else "latest"
    expected = STATE["tokens"]["second" if which == "second" else "third"]
    fo.write_tokens([VM], "overwritten")
    run = lab_vms.playbook("restore.yml", "-e", f"vm={VM}", "-e", f"backup={backup}")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert _read_token() == f"read {expected}"
    _qemu(inv)  # runs on exactly one hypervisor
    # The cluster starts it again: no target-role left behind.
    role = inv.node(inv.group("storage")[0]).run(
        f"crm_resource --resource {lab_vms.resource(VM)} --meta --get-parameter target-role")
    assert "Stopped" not in role.stdout, role.stdout


@pytest.mark.parametrize("extra, said", [
    (("-e", f"vm={VM}", "-e", "backup=20200101T000000Z"), "no backup 20200101T000000Z; the complete ones are"),
    (("-e", "vm=nope", "-e", "backup=latest"), "Name one VM of havirt_vms"),
])
def test_a_restore_that_cannot_be_done_stops_nothing(inv, extra, said):
    before = _qemu(inv)
    run = lab_vms.playbook("restore.yml", *extra)
    assert run.returncode != 0
    assert said in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]
    assert _qemu(inv) == before


def test_a_backup_of_a_vm_that_is_not_one_is_refused(inv):
    stored = _stored(inv)
    run = lab_vms.playbook("backup.yml", "-e", "vm=nope")
    assert run.returncode != 0
    assert "No such VM in havirt_vms: nope" in run.stdout + run.stderr
    assert _stored(inv) == stored
