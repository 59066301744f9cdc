"""Option-to-flags mapping, reservation checks and job statistics of
havirt.cluster.live_migrate. The statistics fixture was captured in the
container lab: `virsh migrate --live --p2p --persistent --undefinesource
--tls` of an idle 128 MiB TCG guest at libvirt's defaults, read on the
destination with VIR_DOMAIN_JOB_STATS_COMPLETED."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import live_migrate as lm

FIXTURES = Path(__file__).parent / "fixtures" / "live_migrate"


def test_constants_are_libvirts():
    libvirt = pytest.importorskip("libvirt")
    for name in ("LIVE", "PEER2PEER", "TUNNELLED", "PERSIST_DEST", "UNDEFINE_SOURCE", "COMPRESSED", "AUTO_CONVERGE",
                 "POSTCOPY", "TLS", "PARALLEL"):
        assert getattr(lm, "VIR_MIGRATE_" + name) == getattr(libvirt, "VIR_MIGRATE_" + name), name
    assert lm.PARAM_BANDWIDTH == libvirt.VIR_MIGRATE_PARAM_BANDWIDTH
    assert lm.PARAM_PARALLEL_CONNECTIONS == libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS
    assert lm.PARAM_URI == libvirt.VIR_MIGRATE_PARAM_URI


def test_default_migration_is_live_p2p_persistent_and_undefines_the_source():
    flags = lm.migration_flags({})
    assert lm.flag_names(flags) == ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE"]
    assert lm.migration_params({}) == {}


def test_a_cluster_managed_vm_stays_transient_and_the_source_definition_goes():
    flags = lm.flag_names(lm.migration_flags({"persistent": False}))
    assert "PERSIST_DEST" not in flags
    assert "UNDEFINE_SOURCE" in flags


@pytest.mark.parametrize("options,flag", [
    ({"tls": True}, "TLS"),
    ({"auto_converge": True}, "AUTO_CONVERGE"),
    ({"postcopy": True}, "POSTCOPY"),
    ({"compressed": True}, "COMPRESSED"),
    ({"parallel_connections": 4}, "PARALLEL"),
])
def test_each_option_adds_its_flag(options, flag):
    assert flag in lm.flag_names(lm.migration_flags(options))
    assert flag not in lm.flag_names(lm.migration_flags({}))


def test_parameters():
    assert lm.migration_params({"bandwidth_mib": 100, "parallel_connections": 4, "migrate_address": "10.0.0.2"}) == {
        "bandwidth": 100, "parallel.connections": 4, "migrate_uri": "tcp://10.0.0.2"}
    # One connection is not "parallel".
    assert lm.migration_params({"parallel_connections": 1}) == {}
    assert "PARALLEL" not in lm.flag_names(lm.migration_flags({"parallel_connections": 1}))


@pytest.mark.parametrize("address,uri", [
    ("10.0.0.2", "tcp://10.0.0.2"),
    ("servvirt2", "tcp://servvirt2"),
    ("fd00::11", "tcp://[fd00::11]"),
    ("[fd00::11]", "tcp://[fd00::11]"),
    ("2001:db8:0:0::11", "tcp://[2001:db8:0:0::11]"),
    ("::ffff:10.0.0.2", "tcp://[::ffff:10.0.0.2]"),
])
def test_the_migration_uri_brackets_an_ipv6_address(address, uri):
    assert lm.migration_params({"migrate_address": address})["migrate_uri"] == uri


def test_the_migration_uri_reads_back_as_the_address():
    """What a URI parser makes of it: the host is the whole address, no port."""
    from urllib.parse import urlsplit
    for address in ("fd00::11", "10.0.0.2", "servvirt2"):
        parts = urlsplit(lm.migration_params({"migrate_address": address})["migrate_uri"])
        assert (parts.hostname, parts.port) == (address, None)


SOURCE = dict(name="servvirt1", hypervisor="QEMU", running=["passata"])
GOOD = dict(name="servvirt2", role="hypervisor", reachable=True, hypervisor="QEMU", running=[],
            free_memory_kib=1 << 20, cpu_compatible=True, storage_missing=[])


def test_reservation_passes():
    assert lm.reservation_problems("passata", SOURCE, GOOD, 131072) == []


@pytest.mark.parametrize("vm,change,words", [
    ("speedauth", {}, "speedauth is not running on servvirt1"),
    ("passata", {"name": "servvirt1"}, "the destination servvirt1 is the source itself"),
    ("passata", {"role": "storage"}, "is not a hypervisor"),
    ("passata", {"reachable": False, "error": "connection refused"}, "cannot be reached: connection refused"),
    ("passata", {"hypervisor": "Xen"}, "needs the same hypervisor"),
    ("passata", {"free_memory_kib": 65536}, "has 64 MiB available, passata needs 128 MiB"),
    ("passata", {"cpu_compatible": False}, "cannot run passata's CPU model"),
    ("passata", {"free_memory_kib": 200 << 10, "reserve_memory_kib": 100 << 10},
     "has 200 MiB available and keeps 100 MiB for itself, passata needs 128 MiB"),
    ("passata", {"cpu_compatible": False, "cpu_error": "unknown CPU model"}, "CPU model (unknown CPU model)"),
    ("passata", {"storage_missing": ["the libvirt secret 'havirt-iscsi-chap' (iscsi)"]},
     "disk needs the libvirt secret 'havirt-iscsi-chap' (iscsi), which servvirt2 lacks"),
    ("passata", {"running": ["passata"]}, "a domain named passata already runs on servvirt2"),
])
def test_each_failed_check_is_named(vm, change, words):
    problems = lm.reservation_problems(vm, SOURCE, dict(GOOD, **change), 131072)
    assert any(words in p for p in problems), problems


def test_a_machine_type_the_destination_lacks_is_named_as_such():
    """libvirt 9.0's answer on Debian 12 (QEMU 7.2) to a VM that Debian 13's
    QEMU 10 started (molecule/mixed, 2026-12-03)."""
    error = ("invalid argument: the machine 'pc-i440fx-10.0' is not supported by emulator "
             "'/usr/bin/qemu-system-x86_64'")
    problems = lm.reservation_problems("passata", SOURCE, dict(GOOD, cpu_compatible=False, cpu_error=error), 131072)
    assert problems == ["servvirt2's QEMU has no machine type pc-i440fx-10.0, which passata runs: a VM started by a "
                        "newer QEMU cannot move to an older one (mid rolling upgrade: upgrade servvirt2 first, or "
                        "restart passata there through the cluster)"]


def test_reserve_is_kept_free():
    roomy = dict(GOOD, free_memory_kib=300 << 10, reserve_memory_kib=100 << 10)
    assert lm.reservation_problems("passata", SOURCE, roomy, 131072) == []


def test_requirements_of_a_real_domain():
    """`virsh dumpxml --migratable passata` in the container lab: TCG, an
    iSCSI disk through QEMU's client with CHAP from a libvirt secret."""
    req = lm.domain_requirements((FIXTURES / "domain-passata-migratable-tcg-iscsi.xml").read_text())
    assert req["virttype"] == "qemu"
    assert req["arch"] == "x86_64"
    assert req["machine"] == "pc-i440fx-7.2"
    assert "<model fallback=\"forbid\">qemu64</model>" in req["cpu"]
    assert req["secrets"] == [{"type": "iscsi", "usage": "havirt-iscsi-chap"}]
    assert req["paths"] == []


def test_requirements_of_file_and_block_disks_without_cpu_model():
    req = lm.domain_requirements(
        "<domain type='kvm'><os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>"
        "<cpu mode='host-passthrough'/><devices>"
        "<disk type='file'><source file='/cluster/vms/a.img'/></disk>"
        "<disk type='block'><source dev='/dev/disk/by-path/x-lun-2'/></disk>"
        "<disk type='file' device='cdrom'/></devices></domain>")
    assert req["cpu"] is None
    assert req["paths"] == ["/cluster/vms/a.img", "/dev/disk/by-path/x-lun-2"]
    assert req["secrets"] == []


def test_job_summary_from_real_completed_stats():
    stats = json.loads((FIXTURES / "jobstats-completed-virsh-defaults-idle-128m.json").read_text())
    summary = lm.job_summary(stats)
    assert summary["total_ms"] == 1113
    assert summary["downtime_ms"] == 354
    assert summary["memory_transferred_bytes"] == 105127864
    assert summary["memory_total_bytes"] == 134610944
    assert summary["iterations"] == 3
    assert summary["setup_ms"] == 2


def test_job_summary_without_stats():
    assert set(lm.job_summary({}).values()) == {None}
    assert lm.job_summary({"type": 0})["downtime_ms"] is None


def test_available_memory_counts_what_the_kernel_gives_back():
    # getMemoryStats(VIR_NODE_MEMORY_STATS_ALL_CELLS) and getFreeMemory() of a
    # VM-lab hypervisor (KiB), read together: MemFree alone was 347804, and
    # /proc/meminfo's MemAvailable 459044 (what counts lies between: the
    # reserve_memory_mb margin covers the page cache the kernel keeps).
    stats = {'total': 981696, 'free': 347804, 'buffers': 12576, 'cached': 281196}
    assert lm.available_memory_kib(stats) == 347804 + 12576 + 281196
    assert lm.available_memory_kib({"free": 347804}) == 347804


def test_ssh_transport_tunnels_the_stream_without_a_uri_of_its_own():
    options = {"tunnelled": True, "tls": False, "migrate_address": "10.210.1.12", "auto_converge": True}
    flags = lm.migration_flags(options)
    assert flags & lm.VIR_MIGRATE_TUNNELLED and not flags & lm.VIR_MIGRATE_TLS
    assert "TUNNELLED" in lm.flag_names(flags)
    assert lm.PARAM_URI not in lm.migration_params(options)
    assert lm.option_problems(options) == []


@pytest.mark.parametrize("extra, words", [
    ({"tls": True}, "tls and tunnelled exclude each other"),
    ({"parallel_connections": 4}, "parallel connections"),
    ({"postcopy": True}, "post-copy"),
])
def test_tunnelled_refuses_what_libvirt_refuses(extra, words):
    problems = lm.option_problems(dict({"tunnelled": True}, **extra))
    assert len(problems) == 1 and words in problems[0]


def test_direct_stream_options_are_not_limited():
    assert lm.option_problems({"tls": True, "parallel_connections": 4, "postcopy": True}) == []


# getType() and getVersion() as libvirt answered: on a Debian 13 lab hypervisor ("QEMU", 10000013: virsh version
# says "Running hypervisor: QEMU 10.0.13", 2026-12-03); Debian 12's QEMU 7.2.22 by the same encoding
# (major * 1000000 + minor * 1000 + micro).
@pytest.mark.parametrize("driver,version,expected", [
    ("QEMU", 10000013, 20),
    ("QEMU", 7002022, 300),
    ("QEMU", 9002000, 300),  # not measured: QEMU's own default
    ("Xen", 4020000, 0),  # libxl sets no maximum downtime (Xen lab, Xen 4.20: "not supported")
])
def test_the_default_downtime_follows_the_sources_qemu(driver, version, expected):
    assert lm.qemu_version(10000013) == (10, 0, 13)
    assert lm.default_max_downtime_ms(driver, version) == expected


def test_a_negative_downtime_is_refused():
    assert lm.option_problems({"max_downtime_ms": -5}) == [
        "max_downtime_ms -5 is negative: give milliseconds, or 0 to choose by the source's QEMU"]
    assert lm.option_problems({"max_downtime_ms": 0}) == []


# The options the xen_migration role gives on Xen (tunnelled, no TLS flag, no
# downtime) pass; each of QEMU's own is refused by name before anything moves.
def test_xen_takes_the_roles_options():
    options = {"tunnelled": True, "tls": False, "max_downtime_ms": 0, "auto_converge": False,
               "bandwidth_mib": 0, "parallel_connections": 1}
    assert lm.driver_problems("Xen", options) == []


@pytest.mark.parametrize("option,value,word", [
    ("tls", True, "tunnel it"),
    ("auto_converge", True, "auto-converge"),
    ("postcopy", True, "post-copy"),
    ("compressed", True, "compression"),
    ("bandwidth_mib", 100, "bandwidth"),
    ("max_downtime_ms", 300, "maximum downtime"),
    ("parallel_connections", 4, "parallel"),
])
def test_xen_refuses_qemus_options(option, value, word):
    problems = lm.driver_problems("Xen", {option: value})
    assert len(problems) == 1
    assert word in problems[0] and str(value) in problems[0]


def test_qemu_takes_every_option():
    options = {"tls": True, "auto_converge": True, "postcopy": True, "compressed": True, "bandwidth_mib": 100,
               "max_downtime_ms": 20, "parallel_connections": 4}
    assert lm.driver_problems("QEMU", options) == []


def test_virt_caps_of_debian_13s_xen_have_no_shadow_paging():
    """xl info of a Xen lab hypervisor (Xen 4.20.5-pre, Debian 13, 2026-12-05)."""
    caps = lm.xen_virt_caps((FIXTURES / "xl-info-xen-4.20-debian13-no-shadow.txt").read_text())
    assert caps == {"pv", "hvm", "hap", "gnttab-v1", "gnttab-v2"}
    assert lm.xen_virt_caps("host : servvirt1\nrelease : 6.12\n") is None
    assert lm.xen_virt_caps("") is None


def test_a_pv_guests_os_type_is_read_from_its_migratable_xml():
    req = lm.domain_requirements((FIXTURES / "domain-masterauth-migratable-xen-pv-qcow2.xml").read_text())
    assert req["os_type"] == "linux" and req["virttype"] == "xen"
    assert req["paths"] == ["/cluster/vms/masterauth.qcow2"]
    assert lm.domain_requirements("<domain/>")["os_type"] is None


@pytest.mark.parametrize("os_type, caps, refused", [
    ("linux", {"pv", "hvm", "hap"}, True),
    ("xen", {"pv", "hvm", "hap"}, True),
    ("linux", {"pv", "hvm", "hap", "shadow"}, False),
    ("xenpvh", {"pv", "hvm", "hap"}, False),
    ("hvm", {"pv", "hvm", "hap"}, False),
    ("linux", None, False),
])
def test_a_pv_guest_is_refused_by_a_xen_without_shadow_paging(os_type, caps, refused):
    problems = lm.xen_guest_problems("masterauth", os_type, caps)
    assert bool(problems) == refused
    if refused:
        assert problems[0].startswith("masterauth is a PV guest and this Xen has no shadow paging "
                                      "(xl info: virt_caps hap hvm pv)"), problems[0]
        assert "crm_resource --resource vm-masterauth --move --node DESTINATION" in problems[0]
