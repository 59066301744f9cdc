# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions behind havirt.cluster.live_migrate: the task's options
as libvirt migration flags and parameters, the reservation checks, and
libvirt's completed-job statistics as the module returns them. No libvirt
import here: the values are libvirt's stable ABI (virDomainMigrateFlags,
VIR_MIGRATE_PARAM_*), checked against the binding by the unit tests."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import ipaddress
import re

VIR_MIGRATE_LIVE = 1
VIR_MIGRATE_PEER2PEER = 2
VIR_MIGRATE_TUNNELLED = 4
VIR_MIGRATE_PERSIST_DEST = 8
VIR_MIGRATE_UNDEFINE_SOURCE = 16
VIR_MIGRATE_COMPRESSED = 2048
VIR_MIGRATE_AUTO_CONVERGE = 8192
VIR_MIGRATE_POSTCOPY = 32768
VIR_MIGRATE_TLS = 65536
VIR_MIGRATE_PARALLEL = 131072

# The maximum downtime chosen when the task leaves it to the module (0),
# from the lab's measurements (xen_migration README, "Defaults, from
# measurements"): QEMU 7.2 guests crashed after about 2 migrations in 100
# at 20 ms and never at 300 ms (QEMU's own default); QEMU 10.0 crashed none
# in 200 at 20 ms. Versions between were not measured: they get 300.
SHORT_DOWNTIME_MS = 20
SAFE_DOWNTIME_MS = 300
SHORT_DOWNTIME_FROM_QEMU = (10, 0)

PARAM_BANDWIDTH = "bandwidth"
PARAM_PARALLEL_CONNECTIONS = "parallel.connections"
PARAM_URI = "migrate_uri"


def migration_flags(options):
    """libvirt flags for a live, peer-to-peer migration that leaves the VM
    defined only on the destination, plus what the options turn on.
    persistent=False (a VM the cluster manager runs from its XML file): the
    VM stays transient on the destination, and a definition on the source
    is still removed."""
    flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_UNDEFINE_SOURCE
    if options.get("persistent", True):
        flags |= VIR_MIGRATE_PERSIST_DEST
    if options.get("tls"):
        flags |= VIR_MIGRATE_TLS
    if options.get("tunnelled"):
        flags |= VIR_MIGRATE_TUNNELLED
    if options.get("auto_converge"):
        flags |= VIR_MIGRATE_AUTO_CONVERGE
    if options.get("postcopy"):
        flags |= VIR_MIGRATE_POSTCOPY
    if options.get("compressed"):
        flags |= VIR_MIGRATE_COMPRESSED
    if (options.get("parallel_connections") or 0) > 1:
        flags |= VIR_MIGRATE_PARALLEL
    return flags


def uri_host(address):
    """An address or host name as the host of a URI (RFC 3986): an IPv6
    address in brackets (tcp://[fd00::11], not tcp://fd00::11, which
    reads as host fd00 and port :11), anything else as it is."""
    text = address.strip()
    if text.startswith("[") and text.endswith("]"):
        return text
    try:
        literal = ipaddress.ip_address(text)
    except ValueError:
        return text
    return "[%s]" % text if literal.version == 6 else text


def migration_params(options):
    """virDomainMigrateToURI3 parameters from the options (only those set)."""
    params = {}
    if options.get("bandwidth_mib"):
        params[PARAM_BANDWIDTH] = int(options["bandwidth_mib"])
    if (options.get("parallel_connections") or 0) > 1:
        params[PARAM_PARALLEL_CONNECTIONS] = int(options["parallel_connections"])
    # A tunnelled stream goes through the libvirt connection: no URI of its own.
    if options.get("migrate_address") and not options.get("tunnelled"):
        params[PARAM_URI] = "tcp://%s" % uri_host(options["migrate_address"])
    return params


def option_problems(options):
    """Option combinations libvirt refuses, as sentences (empty: fine).
    A tunnelled migration (the stream inside the libvirt connection, e.g.
    over SSH) cannot use QEMU's TLS, parallel connections or post-copy."""
    problems = []
    if (options.get("max_downtime_ms") or 0) < 0:
        problems.append("max_downtime_ms %s is negative: give milliseconds, or 0 to choose by the source's QEMU"
                        % options["max_downtime_ms"])
    if options.get("tunnelled"):
        if options.get("tls"):
            problems.append("a tunnelled migration is encrypted by its libvirt connection, not by QEMU's TLS: "
                            "tls and tunnelled exclude each other")
        if (options.get("parallel_connections") or 0) > 1:
            problems.append("libvirt does not open parallel connections for a tunnelled migration")
        if options.get("postcopy"):
            problems.append("libvirt does not run post-copy through a tunnelled migration")
    return problems


# What libvirt's libxl driver takes (LIBXL_MIGRATION_FLAGS and
# LIBXL_MIGRATION_PARAMETERS in libvirt's src/libxl/libxl_migration.h):
# live, peer to peer, tunnelled, persist, undefine, paused; the URI, name and
# XML parameters. Anything else it refuses only once the migration starts.
XEN_UNSUPPORTED = (
    ("tls", "Xen's stream has no TLS of its own: tunnel it (tunnelled) through the xen+tls connection"),
    ("auto_converge", "auto-converge is QEMU's (libxl: unsupported flags 0x2000)"),
    ("postcopy", "post-copy is QEMU's"),
    ("compressed", "compression is QEMU's"),
    ("bandwidth_mib", "libxl takes no bandwidth limit"),
    ("max_downtime_ms", "libxl has no maximum downtime: set 0"),
)


def driver_problems(driver, options):
    """What the source's libvirt driver (getType(): QEMU, Xen) cannot do of
    the options asked, as sentences (empty: fine). Checked before anything
    is changed, in check mode too: libvirt itself says so only when the
    migration starts."""
    if str(driver).upper() != "XEN":
        return []
    problems = ["%s (%s asked)" % (why, options[name]) for name, why in XEN_UNSUPPORTED if options.get(name)]
    if (options.get("parallel_connections") or 0) > 1:
        problems.append("parallel connections are QEMU's (%s asked)" % options["parallel_connections"])
    return problems


# libvirt's OS types of Xen guests (the domain XML's <os><type>): PV guests
# are "linux" (or "xen"), PVH "xenpvh", HVM "hvm".
XEN_PV_OS_TYPES = ("linux", "xen")


def xen_virt_caps(xl_info):
    """The words of the ``virt_caps`` line of ``xl info`` (for example
    {'pv', 'hvm', 'hap', 'gnttab-v1', 'gnttab-v2'}); None when the output
    has no such line."""
    for line in (xl_info or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "virt_caps":
            return set(value.split())
    return None


def xen_guest_problems(vm, os_type, virt_caps):
    """Why the Xen guest `vm` (its domain XML's OS type) cannot be
    live-migrated by this Xen (``xen_virt_caps``), as sentences. A PV
    guest's memory writes are tracked by shadow paging, which Debian 13's
    Xen (4.20) is built without: libxl's save then fails at once ("Failed to
    enable logdirty: 95", /var/log/libvirt/libxl/libxl-driver.log) and
    libvirt's tunnelled migration waits forever for data that never comes
    (Xen lab, 2026-12-05). Unknown capabilities (None) say nothing."""
    if virt_caps is None or str(os_type or "").lower() not in XEN_PV_OS_TYPES or "shadow" in virt_caps:
        return []
    return ["%s is a PV guest and this Xen has no shadow paging (xl info: virt_caps %s), which a PV guest's live "
            "migration needs to track its memory; Debian 13's Xen is built without it. Move it cold instead "
            "(the cluster stops it and starts it there: crm_resource --resource vm-%s --move --node DESTINATION, "
            "then crm_resource --resource vm-%s --clear) or run it as a PVH guest"
            % (vm, " ".join(sorted(virt_caps)), vm, vm)]


def flag_names(flags):
    """The names of the flags set, for the plan the module reports."""
    names = []
    for name in ("LIVE", "PEER2PEER", "TUNNELLED", "PERSIST_DEST", "UNDEFINE_SOURCE", "COMPRESSED", "AUTO_CONVERGE",
                 "POSTCOPY", "TLS", "PARALLEL"):
        if flags & globals()["VIR_MIGRATE_" + name]:
            names.append(name)
    return names


def domain_requirements(xml):
    """What a destination must offer to run the domain whose (migratable)
    XML this is: its CPU definition with the arch, machine and domain type
    to compare it against (cpu is None when the XML has no CPU model), the
    usages of the libvirt secrets its network disks log in with, and the
    paths of its file and block disks."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(xml)
    os_type = root.find("./os/type")
    cpu = root.find("./cpu")
    has_model = cpu is not None and cpu.find("model") is not None and (cpu.findtext("model") or "").strip()
    req = {
        "os_type": os_type.text.strip() if os_type is not None and os_type.text else None,
        "virttype": root.get("type"),
        "arch": os_type.get("arch") if os_type is not None else None,
        "machine": os_type.get("machine") if os_type is not None else None,
        "cpu": ET.tostring(cpu, encoding="unicode") if has_model else None,
        "secrets": [],
        "paths": [],
    }
    for disk in root.findall("./devices/disk"):
        source = disk.find("source")
        if source is None:
            continue
        path = source.get("file") or source.get("dev")
        if path:
            req["paths"].append(path)
        secret = source.find("./auth/secret")
        if secret is not None and secret.get("usage"):
            req["secrets"].append({"type": secret.get("type"), "usage": secret.get("usage")})
    return req


def available_memory_kib(stats):
    """Memory a host can give a new guest, from libvirt's node memory
    statistics (``getMemoryStats``, KiB): what is free plus the buffers and
    page cache the kernel gives back on demand. ``free`` alone (MemFree)
    counts the page cache as used: on a hypervisor that has been up a while
    it is a fraction of what a guest can really get."""
    return sum(int(stats.get(key) or 0) for key in ("free", "buffers", "cached"))


def _unsupported_machine(error):
    """The machine type named by libvirt's error when the destination's
    emulator lacks it (compareHypervisorCPU: "the machine 'pc-i440fx-10.0'
    is not supported by emulator '/usr/bin/qemu-system-x86_64'"), else None."""
    found = re.search(r"the machine '([^']+)' is not supported by emulator", error or "")
    return found.group(1) if found else None


def reservation_problems(vm, source, destination, required_memory_kib):
    """What forbids moving `vm` from `source` to `destination`, as sentences.

    `source` and `destination` are dicts: name, role ('hypervisor' or
    something else), reachable (bool), hypervisor (libvirt driver type),
    free_memory_kib, reserve_memory_kib (what the destination keeps for
    itself), cpu_compatible (True, False or None when unknown),
    storage_missing (what the VM's disks need and the destination lacks),
    running (the names of the domains active there). An empty list means go.
    """
    problems = []
    if vm not in source["running"]:
        problems.append("%s is not running on %s" % (vm, source["name"]))
    if destination["name"] == source["name"]:
        problems.append("the destination %s is the source itself" % destination["name"])
    if destination.get("role") != "hypervisor":
        problems.append("%s is not a hypervisor (it is %s): VMs run only on the hypervisors"
                        % (destination["name"], destination.get("role") or "unknown"))
    if not destination.get("reachable"):
        problems.append("%s cannot be reached: %s" % (destination["name"], destination.get("error") or "no connection"))
        return problems
    if destination.get("hypervisor") != source.get("hypervisor"):
        problems.append("%s runs %s and %s runs %s: a live migration needs the same hypervisor"
                        % (source["name"], source.get("hypervisor"), destination["name"], destination.get("hypervisor")))
    if vm in destination.get("running", []):
        problems.append("a domain named %s already runs on %s" % (vm, destination["name"]))
    free = destination.get("free_memory_kib") or 0
    reserve = destination.get("reserve_memory_kib") or 0
    if free - reserve < required_memory_kib:
        problems.append("%s has %d MiB available%s, %s needs %d MiB"
                        % (destination["name"], free // 1024,
                           " and keeps %d MiB for itself" % (reserve // 1024) if reserve else "",
                           vm, required_memory_kib // 1024))
    machine = _unsupported_machine(destination.get("cpu_error"))
    if destination.get("cpu_compatible") is False and machine:
        problems.append("%s's QEMU has no machine type %s, which %s runs: a VM started by a newer QEMU cannot move to an "
                        "older one (mid rolling upgrade: upgrade %s first, or restart %s there through the cluster)"
                        % (destination["name"], machine, vm, destination["name"], vm))
    elif destination.get("cpu_compatible") is False:
        problems.append("the CPU of %s cannot run %s's CPU model%s"
                        % (destination["name"], vm, " (%s)" % destination["cpu_error"] if destination.get("cpu_error") else ""))
    for what in destination.get("storage_missing") or []:
        problems.append("%s's disk needs %s, which %s lacks" % (vm, what, destination["name"]))
    return problems


def job_summary(stats):
    """libvirt's completed-job statistics (virDomainGetJobStats with
    VIR_DOMAIN_JOB_STATS_COMPLETED) as the module returns them: times in
    ms, memory in bytes, iterations. Missing keys become None."""
    def value(key):
        return stats.get(key) if stats else None
    return {
        "total_ms": value("time_elapsed"),
        "downtime_ms": value("downtime"),
        "setup_ms": value("setup_time"),
        "memory_transferred_bytes": value("memory_processed"),
        "memory_total_bytes": value("memory_total"),
        "data_transferred_bytes": value("data_processed"),
        "iterations": value("memory_iteration"),
        "dirty_rate_pages_s": value("memory_dirty_rate"),
        "postcopy_requests": value("memory_postcopy_requests"),
    }


def qemu_version(number):
    """libvirt's getVersion() of a QEMU connection (major * 1000000 +
    minor * 1000 + micro) as (major, minor, micro)."""
    number = int(number or 0)
    return (number // 1000000, (number // 1000) % 1000, number % 1000)


def default_max_downtime_ms(driver, version):
    """The maximum downtime for a migration from a source whose libvirt
    driver is ``driver`` (getType(): QEMU, Xen) at ``version``
    (getVersion()): 20 ms from QEMU 10.0, QEMU's own 300 ms for older
    QEMU; 0 (none set) for Xen, whose libxl driver has no maximum downtime
    (virDomainMigrateSetMaxDowntime: "not supported by the connection
    driver", Xen lab 2026-12-05): Xen's own stop-and-copy decides."""
    if str(driver).upper() == "XEN":
        return 0
    if str(driver).upper() != "QEMU":
        return SAFE_DOWNTIME_MS
    return SHORT_DOWNTIME_MS if qemu_version(version)[:2] >= SHORT_DOWNTIME_FROM_QEMU else SAFE_DOWNTIME_MS
