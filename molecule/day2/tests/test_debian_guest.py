"""A real Debian guest made from its image by site.yml: soldi
(havirt_lab_debian_vm in the lab's inventory; tools/guest/image.yml built
the image: systemd, cloud-init, qemu-guest-agent, OpenSSH), added to
havirt_vms with extra variables, its disk LUN 5 of servdb.

site.yml writes the image into the blank LUN (havirt.cluster.disk_from_image
on the storage node) and the cluster starts the VM on its preferred
hypervisor, which boots it with UEFI (OVMF, the image's GRUB; firmware:
uefi) into a root file system grown to the LUN. cloud-init configures it
from its NoCloud seed: servdb logs in
over SSH as the inventory's admin user with the key the test gave it (the
one lab-up generates), the host name
and the address are the inventory's. The guest agent answers guest-ping
and status.yml says so. A second site.yml changes nothing (the disk, which
now holds the guest's file system, is kept). migrate.yml moves it live
while an SSH session to it stays open. A hard crash of its hypervisor
brings it back with a file it synced before. Marked state: absent, it is
stopped and removed, and its disk keeps the guest's file system; then
purge_disk empties that disk in place and deletes its seeds and UEFI
variables. Between the crash and the removal, firmware: bios: restarted
through the cluster, the same disk boots with SeaBIOS (the GRUB of the
image's BIOS boot partition, as a Debian cloud image has one); then
backup.yml while a load writes in the guest (its agent freezes the file
systems: the backup's file system checks clean), the guest's data and boot
blocks destroyed, restore.yml: it boots with its file back.

Its LUN is new too (iscsi_target_luns + havirt_lab_debian_lun, a whole
site.yml): the running target exports it at once (havirt.cluster.tgt_luns),
every VM keeping its session and its QEMU. The test removes the LUN's file
first (an earlier run's), so it runs on any lab."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest
import yaml

from labkit import backups
from labkit import failover as fo
from labkit import guests
from labkit import inventory
from labkit import probes
from labkit import storage
from labkit import vms as lab_vms
from labkit.status import status_lines as _status

pytestmark = pytest.mark.usefixtures("probe_tools")

VM = "soldi"
KEY = "/root/.ssh/havirt-lab-guest"
STATE = {"present": False}


def _roles(inv) -> dict:
    """The lab's role settings as written (their Jinja is templated by the playbooks)."""
    return yaml.safe_load((inv.inventory_path() / "group_vars" / "cluster" / "roles.yml").read_text())


@pytest.fixture(scope="module")
def guest_vars(inv, tmp_path_factory):
    """Extra variables that add the Debian guest (present, then absent,
    then absent with purge_disk)."""
    roles = _roles(inv)
    image = inv.hostvars(inv.group("hypervisors")[0])["havirt_lab_debian_vm"]["image"]["src"]
    assert Path(image).is_file(), (f"{image}: no Debian guest image; bring the lab up with ansible-playbook "
                                   "tools/lab/up.yml -e havirt_lab_debian_guest=true (molecule/day2's create does)")
    luns = yaml.safe_load((inv.inventory_path() / "group_vars" / "cluster" / "iscsi.yml").read_text())["iscsi_target_luns"]
    assert roles["havirt_lab_debian_vm"]["name"] == VM
    assert roles["havirt_lab_debian_vm"]["disk"] == {"lun": len(luns) + 1}
    where = tmp_path_factory.mktemp("debian-guest")
    paths = {}
    # The key lab-up generated, for servdb's logins (the inventory's own is a public key nobody holds).
    key = (inv.inventory_path() / ".." / ".." / ".lab" / "ssh" / "id_ed25519.pub").read_text().strip()
    variants = {"present": {"state": "present"}, "bios": {"state": "present", "firmware": "bios"},
                "absent": {"state": "absent"}, "purge": {"state": "absent", "purge_disk": True}}
    for state, settings in variants.items():
        vm = dict(roles["havirt_lab_debian_vm"], cloud_init={"ssh_keys": [key]}, **settings)
        paths[state] = where / f"{state}.yml"
        paths[state].write_text(yaml.safe_dump({"havirt_vms": roles["havirt_vms"] + [vm],
                                                "iscsi_target_luns": luns + [roles["havirt_lab_debian_lun"]]}))
    return paths


@pytest.fixture(scope="module")
def spec(inv) -> dict:
    return inv.hostvars(inv.group("hypervisors")[0])["havirt_lab_debian_vm"]


@pytest.fixture(scope="module", autouse=True)
def guest_removed(inv, guest_vars):
    """The lab's key on servdb for the logins; at the end (or after a
    failure half-way) the guest marked absent and the key gone."""
    db = inv.node(fo.witness())
    probes.ensure([fo.witness()], probes.DISK)
    key = base64.b64encode(open(inv.hostvars(fo.witness())["ansible_ssh_private_key_file"], "rb").read()).decode()
    db.check_output(f"umask 077; mkdir -p /root/.ssh; echo {key} | base64 -d > {KEY}")
    fo.wait_settled()
    yield
    db.run(f"rm -f {KEY}")
    if STATE["present"]:
        run, said = lab_vms.site("-e", f"@{guest_vars['absent']}")
        assert run.returncode == 0, said[-3000:]
        fo.wait_settled()
    # What the removal keeps and the lab's VMs do not have: its seeds.
    for name in inv.group("hypervisors"):
        inv.node(name).run(f"rm -f {inv.role_var(name, 'vms', 'vms_seed_dir')}/{VM}.iso")


def _lun_path() -> str:
    """The backing file of the guest's LUN on the storage node."""
    return inventory.hostvars(fo.witness())["havirt_lab_debian_lun"]["path"]


def _target(inv) -> tuple[dict[int, str], int]:
    return storage.tgt_target(inv.node(fo.witness()))


def _task(said: str, name: str) -> str:
    """What a playbook printed for its task ``name`` (the vms role's)."""
    return next((part for part in said.split("TASK [")[1:] if part.startswith(f"havirt.cluster.vms : {name}]")), "")


def _ssh(inv, address: str, command: str, timeout: int = 20):
    return inv.node(fo.witness()).run(
        f"timeout {timeout} ssh -i {KEY} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        f"-o ConnectTimeout=5 -o LogLevel=ERROR admin@{address} {command!r}; "
        # ssh's own failure (255) would be taken by testinfra for its own.
        "rc=$?; [ $rc = 255 ] && rc=254; exit $rc")


def _ssh_when_up(inv, address: str, command: str, timeout: float):
    """``command`` run in the guest as soon as it lets servdb log in (every
    5 s, for ``timeout`` seconds; then the VM's post-mortem)."""
    deadline = time.monotonic() + timeout
    while True:
        login = _ssh(inv, address, command)
        if login.rc == 0:
            return login
        assert time.monotonic() < deadline, (login.stderr, lab_vms.postmortem(VM))
        time.sleep(5)


def _root_offset(inv, disk: str | None = None) -> int | None:
    """Where the guest's root partition starts on its LUN (or on another
    copy of its disk on servdb), in bytes (the image's GPT, read by
    partx), None when the disk holds no partition table."""
    listed = inv.node(fo.witness()).run(f"partx -g -o START,NAME {disk or _lun_path()}")
    starts = {name: int(start) for start, name in (line.split() for line in listed.stdout.splitlines() if line.strip())}
    return starts["root"] * 512 if listed.rc == 0 and "root" in starts else None


def _labels(inv) -> list[str]:
    """The type and label of the root file system on the guest's LUN (none when blank)."""
    offset = _root_offset(inv)
    at = f"-O {offset} " if offset is not None else ""
    return inv.node(fo.witness()).run(f"blkid -p {at}-o value -s TYPE -s LABEL {_lun_path()}").stdout.split()


def test_site_makes_the_vm_from_its_image_and_cloud_init_configures_it(inv, guest_vars, spec):
    db = inv.node(fo.witness())
    lun = _lun_path()
    assert lab_vms.running_on(VM) == [], "soldi runs: an earlier run did not remove it"
    # An earlier run's LUN (the VM is not running): out of the target and
    # its file removed, as a new LUN has none.
    luns, _sessions = _target(inv)
    for number in [n for n, path in luns.items() if path == lun]:
        db.check_output(f"tgtadm --lld iscsi --mode logicalunit --op delete --tid 1 --lun {number}")
    db.check_output(f"rm -f {lun}")
    # And its cloud-init seeds (kept by a removal, never made again): a new VM has none.
    for name in inv.group("hypervisors"):
        inv.node(name).check_output(f"rm -f {inv.role_var(name, 'vms', 'vms_seed_dir')}/{VM}.iso")
    luns, sessions = _target(inv)
    assert lun not in luns.values() and sessions >= len(lab_vms.vms())
    qemus = {name: inv.node(name).check_output("pidof qemu-system-x86_64") for name in inv.group("hypervisors")}

    STATE["present"] = True
    started = time.monotonic()
    run, said = lab_vms.site("-e", f"@{guest_vars['present']}", whole=True)
    assert run.returncode == 0, said[-4000:]
    # The new LUN exported by the running target: sessions kept, no VM restarted.
    after, sessions_after = _target(inv)
    assert after == {**luns, len(luns) + 1: lun} and sessions_after >= sessions, (after, sessions_after)
    for name, pids in qemus.items():
        assert set(pids.split()) <= set(inv.node(name).check_output("pidof qemu-system-x86_64").split()), name
    wrote = _task(said, "Write each image into its VM's blank LUN")
    assert re.search(rf"^changed: \[[^\]]* -> {fo.witness()}[^\]]*\] => \(item={VM}: LUN 5\)", wrote, re.M), said[-4000:]
    assert sorted(_labels(inv)) == ["ext4", "root"]

    preferred = spec["preferred"]
    assert lab_vms.running_on(VM) == [preferred]
    # First boot: cloud-init from the seed, then SSH with the inventory's key.
    login = _ssh_when_up(inv, spec["address"], "hostname; ip -4 -o addr show scope global; id -nG", 420)
    print(f"soldi: made, started and logged in to {time.monotonic() - started:.0f} s after site.yml began")
    lines = login.stdout.splitlines()
    assert lines[0] == VM, lines
    assert f"inet {spec['address']}/{inv.role_var(preferred, 'vms', 'vms_cloud_init_prefix')}" in lines[1], lines
    assert "sudo" in lines[2].split(), lines
    # Booted by its firmware from its disk (UEFI: OVMF, the image's GRUB),
    # its root grown into the LUN, bigger than the image it was made from.
    seen = _ssh(inv, spec["address"], "test -d /sys/firmware/efi && echo uefi; lsblk -bndo SIZE /dev/vda; "
                                      "findmnt -bno SIZE /; cat /proc/cmdline")
    assert seen.rc == 0, seen.stderr
    firmware, disk, root, cmdline = seen.stdout.splitlines()
    lun_size = int(db.check_output(f"stat -c %s {lun}"))
    assert firmware == "uefi" and "BOOT_IMAGE=/vmlinuz" in cmdline, (firmware, cmdline)
    assert int(disk) == lun_size, (disk, lun_size)
    assert int(root) > lun_size * 0.9, f"root file system {root} bytes on a {lun_size}-byte disk: not grown"
    print(f"soldi: UEFI boot ({cmdline}), disk {int(disk) >> 20} MiB, root file system {int(root) >> 20} MiB")

    # The guest agent, through libvirt and through status.yml.
    deadline = time.monotonic() + 120
    while True:
        ping = inv.node(preferred).run(f"virsh qemu-agent-command {VM} '{{\"execute\":\"guest-ping\"}}'")
        if ping.rc == 0:
            break
        assert time.monotonic() < deadline, ping.stderr
        time.sleep(3)
    assert ping.stdout.strip() == '{"return":{}}'
    agents = next(line for line in _status("-e", f"@{guest_vars['present']}") if line.startswith("guest agents: "))
    answering = agents[len("guest agents: answering: "):].split(";")[0].split(", ")
    assert VM in answering, agents


def test_a_second_run_keeps_its_disk_and_changes_nothing(inv, guest_vars):
    run, said = lab_vms.site("-e", f"@{guest_vars['present']}")
    assert run.returncode == 0, said[-3000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.M)
    assert recap and all(changed == "0" for _node, changed in recap), said[-4000:]
    read = _task(said, "Read which LUN disks made from an image are still blank")
    assert re.search(rf"^ok: \[[^\]]* -> {fo.witness()}[^\]]*\] => \(item={VM}: LUN 5\)", read, re.M), said[-3000:]
    assert not _task(said, "Write each image into its VM's blank LUN").strip(" *\n").startswith("changed")


def test_migrate_moves_it_while_an_ssh_session_stays_open(inv, guest_vars, spec):
    db = inv.node(fo.witness())
    [was] = lab_vms.running_on(VM)
    to = next(name for name in inv.group("hypervisors") if name != was)
    log = "/tmp/havirt-soldi-session.log"
    loop = "rm -f /tmp/havirt-stop; while [ ! -e /tmp/havirt-stop ]; do date +%s.%N; sleep 0.1; done"
    db.check_output(f"rm -f {log}; (ssh -i {KEY} -o BatchMode=yes -o StrictHostKeyChecking=no "
                    f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ServerAliveInterval=2 admin@{spec['address']} "
                    f"{loop!r} > {log} 2>&1; echo rc=$? >> {log}) > /dev/null 2>&1 &")
    deadline = time.monotonic() + 60
    while len(db.run(f"cat {log}").stdout.split()) < 5:
        assert time.monotonic() < deadline, db.run(f"cat {log}").stdout
        time.sleep(1)
    run = lab_vms.playbook("migrate.yml", "-e", f"vm={VM}", "-e", f"@{guest_vars['present']}")
    assert run.returncode == 0, run.stdout[-3000:]
    assert lab_vms.running_on(VM) == [to]
    stop = _ssh(inv, spec["address"], "touch /tmp/havirt-stop")
    assert stop.rc == 0, stop.stderr
    deadline = time.monotonic() + 30
    while "rc=" not in db.run(f"cat {log}").stdout:
        assert time.monotonic() < deadline, db.run(f"tail -5 {log}").stdout
        time.sleep(1)
    out = db.check_output(f"cat {log}").split()
    assert out[-1] == "rc=0", out[-5:]
    stamps = [float(line) for line in out[:-1]]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    print(f"soldi moved {was} -> {to} under an open SSH session: {len(stamps)} lines, longest gap {max(gaps):.2f} s")
    # Back where it was, for the next test.
    run = lab_vms.playbook("migrate.yml", "-e", f"vm={VM}", "-e", f"to={was}", "-e", f"@{guest_vars['present']}")
    assert run.returncode == 0, run.stdout[-3000:]


def test_a_crash_of_its_hypervisor_brings_it_back_with_its_synced_file(inv, guest_vars, spec):
    """SIGKILL of the container of the hypervisor that runs soldi: the
    cluster fences it (the lab's agent starts it again) and starts soldi
    again from its LUN, which boots (UEFI, its journal replayed) with the
    file it had written and synced just before. Then every VM goes back to
    its preferred hypervisor (a live move) for the tests that follow."""
    [victim] = lab_vms.running_on(VM)
    token = f"soldi-crash-{time.time_ns()}"
    wrote = _ssh(inv, spec["address"], f"echo {token} > /home/admin/crash-token && sync")
    assert wrote.rc == 0, wrote.stderr
    started_before = fo.started_at(victim)
    killed = time.monotonic()
    fo.podman("kill", "--signal", "KILL", f"havirt-{victim}")
    inv.node.cache_clear()
    read = _ssh_when_up(inv, spec["address"], "cat /home/admin/crash-token; cat /proc/uptime", 600)
    back = time.monotonic() - killed
    restarted = fo.wait_restarted(victim, started_before)
    fo.wait_settled()
    where = lab_vms.running_on(VM)
    kept, uptime = read.stdout.splitlines()[:2]
    print(f"soldi: {victim} killed; answering SSH on {where} {back:.0f} s later (guest up {uptime.split()[0]} s), "
          f"its synced file {'kept' if kept == token else 'LOST'}; {victim} started again by the fence agent: {restarted}")
    assert kept == token
    # Booted again, not the old guest: up for less time than since the kill.
    assert float(uptime.split()[0]) < back
    assert restarted, f"the fence agent did not start {victim} again"
    # On one hypervisor; usually the survivor (the lab's fenced node is
    # back within seconds, and may be chosen if the cluster had not started it yet).
    assert len(where) == 1, where
    lab_vms.send_home("-e", f"@{guest_vars['present']}", also=(spec,))


def test_firmware_bios_boots_the_same_disk_at_its_next_start(inv, guest_vars, spec):
    """firmware: bios (the vms role's default) on the running VM: site.yml
    rewrites its domain without OVMF and the running guest keeps its
    firmware (same QEMU); started again through the cluster, SeaBIOS runs
    the boot code of the disk's MBR, which loads GRUB from the image's
    BIOS boot partition, which boots the guest's own kernel from its root
    file system, with the file the guest wrote before."""
    token = f"soldi-bios-{time.time_ns()}"
    wrote = _ssh(inv, spec["address"], f"echo {token} > /home/admin/bios-token && sync")
    assert wrote.rc == 0, wrote.stderr
    qemu = guests.qemu_pid(inv, VM)
    run, said = lab_vms.site("-e", f"@{guest_vars['bios']}")
    assert run.returncode == 0, said[-3000:]
    # The domain XML the cluster starts it from, on each hypervisor.
    for name in inv.group("hypervisors"):
        xml = inv.node(name).check_output(f"cat /etc/havirt/vms/{VM}.xml")
        assert 'firmware="efi"' not in xml and '<boot dev="hd"/>' in xml, (name, xml)
    assert guests.qemu_pid(inv, VM) == qemu, "site.yml restarted the running VM"
    assert _ssh(inv, spec["address"], "test -d /sys/firmware/efi").rc == 0, "the running guest lost its UEFI"

    stopped = time.monotonic()
    lab_vms.set_stopped(inv, VM, True)
    lab_vms.crm(inv, "--wait", "--timeout", "300s")
    assert lab_vms.running_on(VM) == []
    lab_vms.set_stopped(inv, VM, False)
    seen = _ssh_when_up(inv, spec["address"], "test -d /sys/firmware/efi && echo uefi || echo bios; cat /proc/cmdline; "
                        "cat /home/admin/bios-token", 420)
    firmware, cmdline, kept = seen.stdout.splitlines()[:3]
    print(f"soldi: started again with firmware bios, SSH {time.monotonic() - stopped:.0f} s after the stop "
          f"({firmware}, {cmdline}), its file {'kept' if kept == token else 'LOST'}")
    assert firmware == "bios" and "BOOT_IMAGE=/vmlinuz" in cmdline, (firmware, cmdline)
    assert kept == token
    fo.wait_settled()
    assert lab_vms.running_on(VM) == [spec["preferred"]]


def test_a_backup_frozen_by_the_guest_agent_restores_a_guest_that_boots_with_its_file(inv, guest_vars, spec):
    """backup.yml of soldi while a load writes in the guest: its agent
    freezes the file systems as the backup begins (the manifest says so)
    and the copy's ext4 needs no recovery (e2fsck -fn, run on servdb on
    the backup read back as a raw disk, finds nothing; debugfs reads the
    token written before). Then the guest deletes the token and zeroes the
    first 2 MiB of its disk (MBR, GPT, GRUB's core image): restore.yml
    stops it through the cluster, writes the backup onto its LUN and the
    cluster starts it: it boots (BIOS, GRUB from the restored disk) with
    the token back."""
    db = inv.node(fo.witness())
    probes.ensure([backups.backup_var(inv, "backup_host")], probes.BACKUP_COPY)
    token = f"soldi-backup-{time.time_ns()}"
    wrote = _ssh(inv, spec["address"], f"echo {token} > /home/admin/backup-token && sync")
    assert wrote.rc == 0, wrote.stderr
    load = ("rm -f /tmp/stop-load; nohup sh -c 'i=0; while [ ! -e /tmp/stop-load ]; do "
            "dd if=/dev/urandom of=/home/admin/load.$((i % 4)) bs=1M count=4 conv=fsync status=none; i=$((i + 1)); "
            "done' > /dev/null 2>&1 &")
    assert _ssh(inv, spec["address"], load).rc == 0
    qemu = guests.qemu_pid(inv, VM)
    before = backups.complete(inv, VM)
    started = time.monotonic()
    try:
        run = lab_vms.playbook("backup.yml", "-e", f"vm={VM}", "-e", f"@{guest_vars['bios']}", timeout=1200)
    finally:
        _ssh(inv, spec["address"], "touch /tmp/stop-load")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    took = time.monotonic() - started
    assert guests.qemu_pid(inv, VM) == qemu, "backup.yml restarted or moved the VM"
    [backup_id] = sorted(set(backups.complete(inv, VM)) - set(before))
    manifest = backups.manifest(inv, VM, backup_id)
    assert manifest["consistency"] == "filesystems frozen", (manifest["consistency"], manifest["consistency_detail"])
    [disk] = manifest["disks"]

    # The copy as the guest's disk: its root file system checked, the token read.
    copy = f"{backups.backup_var(inv, 'backup_dir')}/{VM}/{backup_id}/{disk['file']}"
    raw = "/var/tmp/havirt-soldi-backup.raw"
    try:
        db.check_output(f"qemu-img convert -f qcow2 -O raw {copy} {raw}")
        offset = _root_offset(inv, raw)
        checked = db.run(f"e2fsck -fn '{raw}?offset={offset}'")
        kept = db.run(f"debugfs -R 'cat /home/admin/backup-token' '{raw}?offset={offset}' 2>/dev/null").stdout.strip()
    finally:
        db.run(f"rm -f {raw}")
    print(f"soldi: backup {backup_id} in {took:.0f} s under a write load, {manifest['consistency']} "
          f"({manifest['consistency_detail']}), {disk['bytes']} bytes; e2fsck -fn rc {checked.rc}: "
          f"{checked.stdout.strip().splitlines()[-1:]}")
    assert checked.rc == 0, checked.stdout + checked.stderr
    assert kept == token

    broken = _ssh(inv, spec["address"], "sudo rm -f /home/admin/backup-token && sudo dd if=/dev/zero of=/dev/vda "
                                        "bs=1M count=2 conv=fsync status=none && sync")
    assert broken.rc == 0, broken.stderr
    started = time.monotonic()
    run = lab_vms.playbook("restore.yml", "-e", f"vm={VM}", "-e", f"backup={backup_id}", "-e", f"@{guest_vars['bios']}",
                           timeout=1200)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    seen = _ssh_when_up(inv, spec["address"], "cat /home/admin/backup-token; test -d /sys/firmware/efi && echo uefi "
                        "|| echo bios", 420)
    restored, firmware = seen.stdout.splitlines()[:2]
    print(f"soldi: restored and answering SSH {time.monotonic() - started:.0f} s after restore.yml began "
          f"({firmware}), its file {'back' if restored == token else 'MISSING'}")
    assert restored == token and firmware == "bios"
    fo.wait_settled()
    assert lab_vms.running_on(VM) == [spec["preferred"]]


def test_absent_removes_it_and_keeps_its_disk(inv, guest_vars, spec):
    # Written and synced by the guest: found on the LUN after the removal.
    token = f"soldi-{time.time_ns()}"
    wrote = _ssh(inv, spec["address"], f"echo {token} > /home/admin/token && sync")
    assert wrote.rc == 0, wrote.stderr
    run, said = lab_vms.site("-e", f"@{guest_vars['absent']}")
    assert run.returncode == 0, said[-3000:]
    STATE["present"] = False
    assert lab_vms.running_on(VM) == [] and lab_vms.defined_on(VM) == []
    assert sorted(_labels(inv)) == ["ext4", "root"]
    # e2fsprogs open a file system at an offset of the file given after '?'.
    kept = inv.node(fo.witness()).check_output(
        f"debugfs -R 'cat /home/admin/token' '{_lun_path()}?offset={_root_offset(inv)}' 2>/dev/null")
    assert kept.strip() == token


def test_purge_disk_empties_its_lun_in_place_and_deletes_its_seeds(inv, guest_vars):
    """purge_disk beside the mark: the LUN's file, which the target holds
    open and still exports, keeps its size with no block allocated and
    reads zero (a VM put back on it starts blank: the image is written
    again); the seeds are gone from every hypervisor; a second run finds
    nothing left to do."""
    db = inv.node(fo.witness())
    lun = _lun_path()
    seeds = {name: f"{inv.role_var(name, 'vms', 'vms_seed_dir')}/{VM}.iso" for name in inv.group("hypervisors")}
    # UEFI variables: libvirt made them where soldi ran (both hypervisors: it moved).
    nvram = f"/var/lib/libvirt/qemu/nvram/{VM}_VARS.fd"
    assert [name for name in inv.group("hypervisors") if inv.node(name).file(nvram).exists]
    size = int(db.check_output(f"stat -c %s {lun}"))
    assert int(db.check_output(f"stat -c %b {lun}")) > 0 and _labels(inv)
    assert all(inv.node(name).file(seed).exists for name, seed in seeds.items())
    run, said = lab_vms.site("-e", f"@{guest_vars['purge']}")
    assert run.returncode == 0, said[-3000:]
    assert lab_vms.running_on(VM) == [] and lab_vms.defined_on(VM) == []
    assert int(db.check_output(f"stat -c %s {lun}")) == size
    assert int(db.check_output(f"stat -c %b {lun}")) == 0
    assert db.run(f"cmp -n {size} {lun} /dev/zero").rc == 0
    assert _labels(inv) == []
    assert lun in _target(inv)[0].values()
    assert not [name for name, seed in seeds.items() if inv.node(name).file(seed).exists]
    assert not [name for name in inv.group("hypervisors") if inv.node(name).file(nvram).exists]
    # The other VMs run on where they were.
    for vm in lab_vms.vms():
        assert lab_vms.running_on(vm["name"]) == [vm["preferred"]], vm["name"]
    again, said = lab_vms.site("-e", f"@{guest_vars['purge']}")
    assert again.returncode == 0, said[-3000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", again.stdout, re.M)
    assert recap and all(changed == "0" for _node, changed in recap), said[-4000:]
    print(f"{VM}: LUN file {lun} ({size} bytes) emptied in place, 0 blocks; seeds gone from "
          f"{', '.join(seeds)}; a second run changed nothing")
