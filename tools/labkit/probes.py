"""The lab's probe tools: what the tests and the benchmarks run on the
nodes to watch the cluster from outside. They are not part of the cluster
(no role installs them), so whoever uses them installs them first, with
ensure(): the verify fixtures (tools/labkit/fixtures.py,
molecule/default/tests/conftest.py) and each benchmark (tools/bench).

ensure() asks each node which commands it lacks and installs only their
packages: one SSH command per node when all are there (no apt), and it
works on a node whose network lost its default route after a restart, as
long as nothing is missing."""

from __future__ import annotations

import shlex

# Each probe command and the Debian package that has it.
PACKAGES = {
    "curl": "curl",
    "ping": "iputils-ping",
    "iscsi-ls": "libiscsi-bin",
    "iscsi-readcapacity16": "libiscsi-bin",
    "aiosmtpd": "python3-aiosmtpd",
    "debugfs": "e2fsprogs",
    "nft": "nftables",
    "qemu-img": "qemu-utils",
}
# On the storage node: HTTP and ICMP to the guests' own addresses.
GUESTS = ("curl", "ping")
# On every node: libiscsi's userspace initiator (the container lab's
# kernel has no iscsi_tcp).
ISCSI = ("iscsi-ls", "iscsi-readcapacity16")
# On the storage node: the mail sink that receives the cluster's alerts.
MAIL = ("aiosmtpd",)
# On the storage node: reading a file in a guest's ext4 disk (a LUN's
# backing file) while the guest is stopped.
DISK = ("debugfs",)
# On the backup host: a backup's qcow2 copy read back as a raw disk (its
# file system checked with e2fsck, a file read with debugfs).
BACKUP_COPY = ("qemu-img", "debugfs")
# On a hypervisor: one node's traffic to the iSCSI portal dropped (the
# target unreachable from it alone).
FIREWALL = ("nft",)


def install_script(commands: tuple[str, ...]) -> str:
    """A shell script that installs the packages of the commands missing
    on the node it runs on (apt's lists refreshed only when apt does not
    know a package: a fresh image may have none)."""
    checks = "; ".join(f"command -v {shlex.quote(command)} >/dev/null"
                       f" || missing=\"$missing {shlex.quote(PACKAGES[command])}\"" for command in commands)
    install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null"
    return (f"missing=''; {checks}; [ -z \"$missing\" ] && exit 0; "
            f"{install} 2>/dev/null || {{ apt-get update -qq && {install}; }}")


def ensure(nodes: list[str], commands: tuple[str, ...]) -> None:
    """Every command of `commands` on every node of `nodes` (installed
    where missing; a failure names the node and apt's error)."""
    # Imported here: install_script is checked offline (tests/repo), with
    # no inventory.
    from labkit import inventory as inv

    script = install_script(commands)
    for name in nodes:
        run = inv.node(name).run(script)
        if run.rc != 0:
            raise RuntimeError(f"{name}: could not install the probe tools {', '.join(commands)} "
                               f"(rc {run.rc}): {(run.stderr or run.stdout).strip()[-2000:]}")
