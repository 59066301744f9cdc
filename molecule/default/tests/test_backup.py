"""backup.yml and restore.yml on passata (its disk an iSCSI LUN that QEMU
reaches with CHAP): a backup taken while the guest rewrites 8 MiB of its
disk again and again, the same QEMU process running before and after; the
lab's backup_keep newest backups stay on servdb; a restore of a chosen
backup and of the latest one, each after the guest overwrote the token it
had written, brings back the token that backup holds; the latest backup
restored as another VM (-e as=speedauth: a VM of the inventory with a disk
as big) runs there, at that VM's address, beside passata, which keeps its
QEMU process; a backup that does not exist and a VM that is not one are
refused with nothing stopped. The schedule (backup_schedule): each
hypervisor's timer backs up the VMs running there (the service started by
the test), the VMs keep their QEMU processes, and the backup host's timer
keeps the newest backup_keep of each VM; an emptied schedule removes
every timer, and the schedule puts them back."""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest

from labkit import backups
from labkit import failover as fo
from labkit import guests
from labkit import vms as lab_vms

pytestmark = pytest.mark.usefixtures("probe_tools")

VM = "passata"
# The VM a backup of passata is restored onto (-e as=): its LUN is as big.
OTHER = "speedauth"
STATE: dict = {"tokens": {}, "ids": []}


def _stored(inv) -> list[str]:
    return backups.complete(inv, VM)


def _qemu(inv, vm=VM) -> tuple[str, str]:
    """(hypervisor, pid) of the VM's QEMU process."""
    return guests.qemu_pid(inv, vm)


def _read_token(vm=VM) -> str:
    return lab_vms.wait_for_http(vm) and lab_vms.http_get(vm, "/cgi-bin/disk", timeout=10).strip()


def _backup(tag: str, vm=VM) -> str:
    """A token written, then backup.yml; returns the token."""
    token = fo.write_tokens([vm], tag)[vm]
    run = lab_vms.playbook("backup.yml", "-e", f"vm={vm}")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    time.sleep(1.1)  # the next backup's id (its second) differs
    return token


@pytest.fixture(scope="module", autouse=True)
def vm_left_running(inv):
    fo.wait_settled()
    yield
    lab_vms.set_stopped(inv, VM, False)
    lab_vms.set_stopped(inv, OTHER, False)
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
    manifest = backups.manifest(inv, VM, newest)
    lun_size = inv.node(inv.group("storage")[0]).check_output(f"stat -c %s {lab_vms.disk_lun(VM)['path']}")
    assert [(d["target"], d["source"]["kind"], d["virtual_size"]) for d in manifest["disks"]] == \
        [("vda", "iscsi", int(lun_size))]
    # The busybox guest runs no agent: the manifest says the copy is
    # crash-consistent, and why.
    assert manifest["consistency"] == "crash-consistent"
    assert "guest agent" in manifest["consistency_detail"]
    STATE["ids"].append(newest)


def test_only_the_newest_backups_stay(inv):
    keep = int(backups.backup_var(inv, "backup_keep"))
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


def test_a_restore_as_another_vm_runs_it_beside_the_original(inv):
    own = _backup("speedauth-own", OTHER)
    passata = _qemu(inv)
    run = lab_vms.playbook("restore.yml", "-e", f"vm={VM}", "-e", "backup=latest", "-e", f"as={OTHER}")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert f"onto {OTHER}'s iSCSI LUN" in run.stdout, run.stdout[-3000:]
    # OTHER, at its own address, holds what passata's latest backup held;
    # passata kept running in the same process with its own disk.
    assert _read_token(OTHER) == f"read {STATE['tokens']['third']}"
    assert _qemu(inv) == passata
    assert _read_token() == f"read {STATE['tokens']['third']}"
    _qemu(inv, OTHER)
    # Back as it was, from its own backup.
    run = lab_vms.playbook("restore.yml", "-e", f"vm={OTHER}", "-e", "backup=latest")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert _read_token(OTHER) == f"read {own}"


def test_the_schedule_backs_up_on_each_hypervisor_what_runs_there_and_the_backup_host_keeps_the_newest(inv):
    schedule = backups.backup_var(inv, "backup_schedule")
    keep = int(backups.backup_var(inv, "backup_keep"))
    backup_dir = backups.backup_var(inv, "backup_dir")
    vms = [vm["name"] for vm in inv.role_var(inv.group("hypervisors")[0], "vms", "havirt_vms")]
    for name in inv.group("hypervisors"):
        node = inv.node(name)
        assert node.run("systemctl is-enabled havirt-backup.timer").stdout.strip() == "enabled"
        assert node.run("systemctl is-active havirt-backup.timer").stdout.strip() == "active"
        assert f"OnCalendar={schedule} " in node.check_output(
            "systemctl show havirt-backup.timer --property=TimersCalendar --value")
    host = backups.backup_host(inv)
    assert host.run("systemctl is-active havirt-backup-prune.timer").stdout.strip() == "active"
    before = {vm: backups.complete(inv, vm) for vm in vms}
    where = {vm: _qemu(inv, vm) for vm in vms}
    # What the timers start, now rather than at night.
    for name in inv.group("hypervisors"):
        run = inv.node(name).run("systemctl start havirt-backup.service")
        assert run.rc == 0, inv.node(name).run("journalctl -u havirt-backup.service -n 30 --no-pager").stdout
        said = inv.node(name).check_output("journalctl -u havirt-backup.service -n 30 --no-pager -o cat")
        for vm in vms:
            if where[vm][0] == name:
                assert f"{vm}: backup " in said and "sent to root@" in said, said
    new = {}
    for vm in vms:
        added = sorted(set(backups.complete(inv, vm)) - set(before[vm]))
        assert len(added) == 1, (vm, before[vm], backups.complete(inv, vm))
        new[vm] = added[0]
        manifest = backups.manifest(inv, vm, new[vm])
        assert manifest["vm"] == vm and [d["target"] for d in manifest["disks"]] == ["vda"]
    assert {vm: _qemu(inv, vm) for vm in vms} == where, "a scheduled backup restarted or moved a VM"
    # The backup host's retention: the newest `keep` complete backups of
    # each VM, a transfer interrupted two days ago gone, what is not a
    # backup left alone.
    stale, other = f"{backup_dir}/{VM}/20200101T000000Z", f"{backup_dir}/{VM}/notes"
    host.check_output(f"mkdir -p {stale} {other} && touch -d '2 days ago' {stale} {other}")
    try:
        assert host.run("systemctl start havirt-backup-prune.service").rc == 0
        for vm in vms:
            expected = sorted(before[vm] + [new[vm]])[-keep:]
            assert backups.complete(inv, vm) == expected, (vm, backups.complete(inv, vm), expected)
        assert not host.file(stale).exists
        assert host.file(other).is_directory
    finally:
        host.run(f"rm -rf {stale} {other}")


def test_a_scheduled_backup_that_fails_is_mailed_with_the_vm_and_the_reason(inv, mail_sink):
    """The run's destination broken on passata's hypervisor (its settings
    file): the service fails, and the cluster's alert path (the pacemaker
    role's agent, --notify) mails one alert naming the hypervisor, the VM
    and why."""
    hypervisor = _qemu(inv)[0]
    node = inv.node(hypervisor)
    cluster = inv.hostvars(hypervisor).get("pacemaker_cluster_name", "havirt")
    settings = json.loads(node.check_output("cat /etc/havirt/backup.json"))
    broken = json.dumps(dict(settings, destination="root@127.0.0.1:"))
    node.check_output("cp -p /etc/havirt/backup.json /etc/havirt/backup.json.orig")
    try:
        node.check_output(f"printf '%s' {shlex.quote(broken)} > /etc/havirt/backup.json")
        assert node.run("systemctl start havirt-backup.service").rc != 0
        assert node.check_output("systemctl show havirt-backup.service --property=Result --value") == "exit-code"
        subject = rf"CRITICAL \[{cluster}\] scheduled backup of (\S+, )*{VM}(, \S+)* FAILED on {hypervisor}"
        deadline = time.monotonic() + 60
        while not (mails := mail_sink()) and time.monotonic() < deadline:
            time.sleep(2)
        print(f"\n{len(mails)} mail(s): " + "; ".join(str(mail["Subject"]) for mail in mails))
        assert [bool(re.fullmatch(subject, str(mail["Subject"]))) for mail in mails] == [True], \
            [str(mail["Subject"]) for mail in mails]
        body = mails[0].get_content()
        assert f"{VM}: NOT backed up: sending the backup to root@127.0.0.1: failed" in body, body
    finally:
        node.run("mv /etc/havirt/backup.json.orig /etc/havirt/backup.json; systemctl reset-failed havirt-backup.service")
        # The copies that could not be sent stay in the scratch directory (the message says where).
        node.run(f"find {settings['scratch_dir']} -mindepth 2 -maxdepth 2 -type d -exec rm -rf {{}} +")
    assert _qemu(inv)[0] == hypervisor


def _timers(inv) -> dict[str, tuple[bool, str]]:
    """Each node's backup timer: (its unit file exists, is-active)."""
    units = {name: "havirt-backup" for name in inv.group("hypervisors")}
    units[backups.backup_var(inv, "backup_host")] = "havirt-backup-prune"
    out = {}
    for name, unit in units.items():
        node = inv.node(name)
        out[name] = (node.file(f"/etc/systemd/system/{unit}.timer").exists
                     and node.file(f"/etc/systemd/system/{unit}.service").exists,
                     node.run(f"systemctl is-active {unit}.timer").stdout.strip())
    return out


def test_an_emptied_schedule_removes_the_timers_and_a_schedule_brings_them_back(inv):
    """backup_schedule emptied (the README: backups by hand only), site.yml
    --tags backup: no timer and no unit left on any node; the inventory's
    schedule again: every timer back and active."""
    assert set(_timers(inv).values()) == {(True, "active")}, _timers(inv)
    try:
        run = lab_vms.playbook("site.yml", "--tags", "backup", "-e", "backup_schedule=")
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
        assert set(_timers(inv).values()) == {(False, "inactive")}, _timers(inv)
    finally:
        run = lab_vms.playbook("site.yml", "--tags", "backup")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert set(_timers(inv).values()) == {(True, "active")}, _timers(inv)


@pytest.mark.parametrize("extra, said", [
    (("-e", f"vm={VM}", "-e", "backup=20200101T000000Z"), "no backup 20200101T000000Z; the complete ones are"),
    (("-e", "vm=nope", "-e", "backup=latest"), "Name one VM of havirt_vms"),
    (("-e", f"vm={VM}", "-e", "backup=latest", "-e", "as=nope"), "-e as=NAME"),
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
