"""The VM lab: real kernels. After site.yml: each hypervisor's kernel
initiator is logged in to servdb with CHAP, /cluster is OCFS2 on both and
shares its data, an initiator outside the ACL is refused, and a disk that
holds another file system or a partition table is never formatted. A
hypervisor that reboots (reset by the fence agent) brings its session and
/cluster back by itself: tests/test_drbd.py checks that after its hard
crash, the same reboot."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from labkit.ocfs2 import check_cluster_conf

def _mount_point(inv, hypervisor):
    return inv.role_var(hypervisor, "ocfs2", "ocfs2_mount_point")


def test_real_kernel_loads_the_cluster_modules(inv, node_name):
    host = inv.node(node_name)
    for module in ("iscsi_tcp", "ocfs2", "drbd"):
        assert host.run("modprobe %s", module).rc == 0, module
        assert host.run("grep -qw ^%s /proc/modules", module).rc == 0, module


def test_names_resolve_to_cluster_addresses(inv, node_name):
    host = inv.node(node_name)
    for other in inv.group("cluster"):
        out = host.check_output(f"getent ahostsv4 {other}")
        assert out.split()[0] == inv.hostvars(other)["havirt_cluster_address"], out


def test_hypervisor_selects_storage_node_for_time(inv, hypervisor):
    server = inv.hostvars(inv.group("storage")[0])["havirt_cluster_address"]
    host = inv.node(hypervisor)
    deadline = time.monotonic() + 120
    while True:
        out = host.check_output("chronyc -n sources")
        if any(line.startswith("^*") and line.split()[1] == server for line in out.splitlines()):
            break
        assert time.monotonic() < deadline, out
        time.sleep(3)
    # A real clock: chronyd runs without -x here.
    assert " -x" not in host.check_output("ps -o args= -C chronyd")


def _session(inv, hypervisor, portal):
    out = inv.node(hypervisor).check_output("iscsiadm -m session -P 3")
    blocks = out.split("Target: ")[1:]
    mine = [b for b in blocks if b.startswith(portal["iqn"] + " ") and f"Current Portal: {portal['address']}:3260," in b]
    assert len(mine) == 1, out
    return mine[0]


def test_kernel_session_to_servdb_with_chap(inv, hypervisor, portal):
    session = _session(inv, hypervisor, portal)
    assert "iSCSI Session State: LOGGED_IN" in session
    assert f"username: {portal['user']}" in session
    assert f"Iface Initiatorname: {inv.hostvars(hypervisor)['iscsi_initiator_name']}" in session
    assert "Attached scsi disk" in session


def test_cluster_is_ocfs2_on_both_hypervisors(inv, hypervisor):
    mount = _mount_point(inv, hypervisor)
    fstype, source = inv.node(hypervisor).check_output("findmnt -n -o FSTYPE,SOURCE %s", mount).split()
    assert fstype == "ocfs2"
    assert source.startswith("/dev/sd")
    # Every hypervisor has it mounted, as the disk's own slot map says.
    line = [x for x in inv.node(hypervisor).check_output("mounted.ocfs2 -f").splitlines() if x.startswith(source + " ")]
    assert len(line) == 1, line
    assert sorted(n.strip() for n in line[0].split(None, 2)[2].replace("o2cb", "", 1).split(",")) == inv.group("hypervisors")


def test_cluster_conf_matches_the_inventory(inv, hypervisor):
    check_cluster_conf(inv, hypervisor)


@pytest.fixture(scope="module")
def shared_file(inv):
    """16 MiB of random data written and synced on the first hypervisor."""
    first = inv.group("hypervisors")[0]
    path = f"{_mount_point(inv, first)}/verify-{uuid.uuid4().hex[:8]}.bin"
    host = inv.node(first)
    host.check_output("dd if=/dev/urandom of=%s bs=1M count=16 conv=fsync status=none", path)
    digest = host.check_output("sha256sum %s", path).split()[0]
    yield path, digest
    host.run("rm -f %s", path)


def test_file_written_on_one_reads_back_on_the_other(inv, shared_file):
    path, digest = shared_file
    for hypervisor in inv.group("hypervisors"):
        assert inv.node(hypervisor).check_output("sha256sum %s", path).split()[0] == digest, hypervisor


def test_target_service_restart_and_the_sessions_recover(inv, portal):
    """The target's service restarts on servdb (for LIO: `targetctl clear`
    then a restore of the saved configuration, as at boot): each
    hypervisor's session logs in again by itself and /cluster takes writes
    that the other hypervisor reads back."""
    backend = inv.hostvars(portal["node"]).get("havirt_iscsi_target_backend", "tgt")
    service = {"tgt": "tgt", "lio": "rtslib-fb-targetctl"}[backend]
    storage = inv.node(portal["node"])
    assert storage.service(service).is_enabled
    started = time.monotonic()
    storage.check_output("systemctl restart %s", service)
    first, *others = inv.group("hypervisors")
    for hypervisor in [first, *others]:
        deadline = time.monotonic() + 120
        while "iSCSI Session State: LOGGED_IN" not in _session(inv, hypervisor, portal):
            assert time.monotonic() < deadline, f"{hypervisor}: no session 120 s after the target restarted"
            time.sleep(2)
    path = f"{_mount_point(inv, first)}/after-target-restart-{uuid.uuid4().hex[:8]}"
    inv.node(first).check_output("dd if=/dev/urandom of=%s bs=1M count=4 conv=fsync status=none", path)
    digest = inv.node(first).check_output("sha256sum %s", path).split()[0]
    for hypervisor in others:
        assert inv.node(hypervisor).check_output("sha256sum %s", path).split()[0] == digest
    print(f"{backend} target restarted: sessions back and /cluster written within {time.monotonic() - started:.0f} s")
    inv.node(first).run("rm -f %s", path)


def _probe_iface(host, name, initiator):
    """A second iSCSI interface with its own initiator name: a login through
    it is a separate session, so the cluster's own session is untouched."""
    host.run("iscsiadm -m iface -I %s -o delete", name)
    host.check_output("iscsiadm -m iface -I %s -o new", name)
    host.check_output("iscsiadm -m iface -I %s -o update -n iface.initiatorname -v %s", name, initiator)


@pytest.mark.parametrize("case", ["foreign-name-right-secret", "own-name-wrong-secret"])
def test_initiator_outside_the_acl_cannot_log_in(inv, portal, case):
    hypervisor = inv.group("hypervisors")[0]
    host = inv.node(hypervisor)
    iface = "havirt-probe"
    if case == "foreign-name-right-secret":
        initiator, secret = "iqn.2026-11.org.example:intruder", portal["secret"]
    else:
        initiator, secret = inv.hostvars(hypervisor)["iscsi_initiator_name"], "not-the-secret-at-all"
    _probe_iface(host, iface, initiator)
    target = f"iscsiadm -m node -T {portal['iqn']} -p {portal['address']}:3260 -I {iface}"
    try:
        host.check_output(f"{target} -o new")
        for key, value in (("node.session.auth.authmethod", "CHAP"), ("node.session.auth.username", portal["user"]),
                           ("node.session.auth.password", secret)):
            host.check_output(f"{target} -o update -n %s -v %s", key, value)
        login = host.run(f"{target} --login")
        assert login.rc != 0, login.stdout
        assert login.rc in (19, 24), login.stdout + login.stderr
        sessions = host.check_output("iscsiadm -m session -P 1")
        assert f"Iface Name: {iface}" not in sessions
    finally:
        host.run(f"{target} --logout")
        host.run(f"{target} -o delete")
        host.run("iscsiadm -m iface -I %s -o delete", iface)
    # The cluster's own session is still there.
    assert "LOGGED_IN" in _session(inv, hypervisor, portal)


# Made on a hypervisor, which has no gdisk: systemd-repart writes the GPT,
# mkfs.ext4 fills partition 1 in place (-E offset), with a file in it.
_GPT_WITH_EXT4 = (
    "rm -rf /root/havirt-gpt.d && mkdir -p /root/havirt-gpt.d/content"
    " && echo precious > /root/havirt-gpt.d/content/precious.txt"
    " && printf '[Partition]\\nType=linux-generic\\nLabel=precious\\n' > /root/havirt-gpt.d/10-data.conf"
    " && truncate -s 64M {image}"
    " && systemd-repart --empty=force --dry-run=no --definitions=/root/havirt-gpt.d {image} >/dev/null 2>&1"
    " && set -- $(partx --show --noheadings --output START,SECTORS {image})"
    " && mkfs.ext4 -q -F -L precious -d /root/havirt-gpt.d/content -E offset=$(($1 * 512)) {image} $(($2 / 2))k"
)


def _failure(stdout, host):
    """The result of the task that failed on `host` (the default callback,
    result format json, prints it on its `fatal:` line)."""
    prefix = f"fatal: [{host}]: FAILED! => "
    lines = [line for line in stdout.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stdout[-3000:]
    return json.loads(lines[0][len(prefix):])


def test_disk_with_another_file_system_is_never_formatted(inv, tmp_path):
    """The ocfs2 role pointed, in one run, at a disk that holds ext4 (first
    hypervisor) and at a disk that holds a GPT whose partition holds ext4
    (second: blkid on the whole disk shows no TYPE there) fails on both with
    a message naming what is there, and both disks are bit for bit as they
    were."""
    first, second = inv.group("hypervisors")[:2]
    image = "/root/havirt-precious.img"
    make = {first: f"truncate -s 64M {image} && mkfs.ext4 -q -F -L precious {image}",
            second: _GPT_WITH_EXT4.format(image=image)}
    devices = {}
    try:
        for name, script in make.items():
            host = inv.node(name)
            host.check_output(script)
            devices[name] = host.check_output("losetup --find --show %s", image)
        before = {name: inv.node(name).check_output("sha256sum %s", device).split()[0]
                  for name, device in devices.items()}
        playbook = tmp_path / "ocfs2-only.yml"
        playbook.write_text(
            f"- name: Only the ocfs2 role\n  hosts: {first},{second}\n  gather_facts: false\n"
            "  roles:\n    - role: havirt.cluster.ocfs2\n")
        # Each hypervisor its own disk (extra vars are templated per host).
        device_var = "{{ %s[inventory_hostname] }}" % json.dumps(devices)
        run = subprocess.run(
            ["ansible-playbook", *inv.inventory_args(), str(playbook),
             "-e", json.dumps({"ocfs2_device": device_var})],
            # One JSON result on each fatal: line, whatever ansible.cfg says.
            cwd=inv.PROJECT, env=inv.clean_env(ANSIBLE_CALLBACK_RESULT_FORMAT="json"), capture_output=True,
            text=True, timeout=900,
        )
        assert run.returncode != 0, run.stdout[-3000:]
        hint = "Nothing was changed. If its data may be destroyed, set ocfs2_force_format: true for one run."
        ext4 = _failure(run.stdout, first)
        assert ext4["msg"] == (f"{devices[first]} is neither blank nor only ocfs2: it holds: ext4 file system "
                               f"labelled 'precious'. {hint}"), ext4
        gpt = _failure(run.stdout, second)
        assert gpt["msg"].startswith(f"{devices[second]} is neither blank nor only ocfs2: it holds: gpt partition "
                                     "table; partition 1 ("), gpt
        assert gpt["msg"].endswith(f"): ext4 file system labelled 'precious'. {hint}"), gpt
        assert inv.node(first).check_output("blkid -p -o value -s TYPE %s", devices[first]) == "ext4"
        assert inv.node(second).check_output("blkid -p -o value -s PTTYPE %s", devices[second]) == "gpt"
        for name, device in devices.items():
            assert inv.node(name).check_output("sha256sum %s", device).split()[0] == before[name], name
    finally:
        for name in make:
            host = inv.node(name)
            if name in devices:
                host.run("losetup -d %s", devices[name])
            host.run("rm -rf %s /root/havirt-gpt.d", image)
