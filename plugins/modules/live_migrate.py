#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: live_migrate
short_description: Live-migrate a libvirt domain to another hypervisor, after checking that it can go
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - Runs on the source hypervisor. First the reservation, as the sources describe it; the VM runs here;
    the destination is another host of O(hypervisors), reachable over libvirt, with the same hypervisor,
    enough available memory (free, buffers and page cache, minus O(reserve_memory_mb)), a CPU that can run the VM's CPU model (libvirt's
    compareHypervisorCPU with the VM's CPU definition), and what the VM's network disks log in with (their
    libvirt secret). A failed check changes nothing and says which check failed.
  - libvirt cannot tell whether a file or block device exists on another host; the paths of the VM's file
    and block disks are returned in RV(plan.disk_paths) for the play to check there (C(migrate.yml) does).
  - Then a live, peer-to-peer migration, persistent on the destination and undefined on the source,
    with the maximum downtime set before it starts, and optional bandwidth, auto-converge, post-copy,
    compression and parallel connections. After O(timeout) seconds the job is aborted and the VM keeps
    running here.
  - On Xen (libvirt's libxl driver) only a live, peer-to-peer migration, tunnelled or not, can be asked;
    O(tls), O(auto_converge), O(postcopy), O(compressed), O(bandwidth_mib), O(parallel_connections) and a
    nonzero O(max_downtime_ms) are QEMU's and are refused before anything changes, in check mode too.
  - On Xen a PV guest is refused, before anything changes, when this Xen has no shadow paging (C(xl info) virt_caps
    without C(shadow), as Debian 13's Xen), which a PV guest's live migration needs; libxl would fail at once and
    libvirt's tunnelled migration would then never end.
  - Returns libvirt's completed-job statistics (total time, downtime, memory moved, iterations).
  - A VM already running on the destination and not here is V(changed=false).
options:
  name:
    description: Name of the libvirt domain.
    type: str
    required: true
  destination:
    description: Inventory name (and host name) of the destination hypervisor.
    type: str
    required: true
  hypervisors:
    description: The cluster's hypervisors; the destination must be one of them.
    type: list
    elements: str
    required: true
  source_uri:
    description: libvirt URI of this host.
    type: str
    default: qemu:///system
  destination_uri:
    description: libvirt URI of the destination, as this host's libvirtd reaches it (peer to peer).
    type: str
    default: qemu+tls://DESTINATION/system
  migrate_address:
    description:
      - Address (or host name) of the destination on the cluster network, for the migration stream
        (libvirt's migration URI C(tcp://ADDRESS); an IPv6 address goes into it in brackets).
    type: str
  tls:
    description: Encrypt the migration stream with QEMU's TLS (the xen_migration role sets it up).
    type: bool
    default: true
  tunnelled:
    description:
      - Send the migration stream through the libvirt connection to the destination (C(--tunnelled));
        with a C(qemu+ssh://) O(destination_uri), SSH encrypts and authenticates it. Excludes O(tls),
        O(parallel_connections) above 1 and O(postcopy) (libvirt refuses them together); O(migrate_address)
        is not used.
    type: bool
    default: false
  persistent:
    description:
      - Define the VM on the destination (it stays defined there after it stops).
      - C(false) for a VM the cluster manager starts from its XML file (ocf:heartbeat:VirtualDomain), which
        keeps it transient; a definition on the source is removed either way.
    type: bool
    default: true
  max_downtime_ms:
    description:
      - Longest pause of the VM that QEMU may take to finish the migration.
      - C(0) chooses by the source's QEMU, from the lab's measurements of guest crashes at short limits (the
        xen_migration role's README), 20 ms from QEMU 10.0, 300 ms (QEMU's own default) for older QEMU; none for Xen (libxl has no maximum downtime).
        Unset leaves QEMU's.
    type: int
  bandwidth_mib:
    description: Limit of the migration stream in MiB/s (0 is libvirt's default, no limit).
    type: int
    default: 0
  auto_converge:
    description: Slow the VM's vCPUs down when its memory changes faster than it is copied.
    type: bool
    default: false
  postcopy:
    description: Allow post-copy (the VM runs on the destination while pages are still fetched).
    type: bool
    default: false
  compressed:
    description: Compress the migration stream.
    type: bool
    default: false
  parallel_connections:
    description: Number of parallel connections for the stream (1 is a single one).
    type: int
    default: 1
  reserve_memory_mb:
    description: Memory the destination keeps for itself (host, other guests' overhead), in MiB.
    type: int
    default: 0
  timeout:
    description: Seconds after which the migration is aborted and the VM keeps running on the source.
    type: int
    default: 300
requirements:
  - libvirt-python on the source hypervisor (python3-libvirt)
attributes:
  check_mode:
    description: Runs the reservation and returns the plan (flags, parameters); moves nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
"""

EXAMPLES = r"""
- name: Move passata to servvirt2
  havirt.cluster.live_migrate:
    name: passata
    destination: servvirt2
    hypervisors: "{{ groups['hypervisors'] }}"
    migrate_address: "{{ hostvars['servvirt2'].havirt_cluster_address }}"
    max_downtime_ms: 20
  delegate_to: servvirt1
"""

RETURN = r"""
source:
  description: Where the VM was.
  returned: always
  type: str
destination:
  description: Where the VM is after the task.
  returned: always
  type: str
plan:
  description: The flags and parameters of the migration (also in check mode), and the paths of the VM's file and block disks.
  returned: always
  type: dict
  contains:
    flags:
      description: libvirt migration flags, by name.
      type: list
      elements: str
    params:
      description: libvirt migration parameters.
      type: dict
    max_downtime_ms:
      description: The maximum downtime set before the migration (the one chosen, with C(0)).
      type: int
    disk_paths:
      description: Paths of the VM's file and block disks, for the caller to check on the destination.
      type: list
      elements: str
problems:
  description: The reservation checks that failed, one sentence each.
  returned: when the reservation refused the migration
  type: list
  elements: str
cleaned_up:
  description: What was cleaned up after a failed migration.
  returned: when the migration failed
  type: list
  elements: str
stats:
  description: libvirt's completed-job statistics of the migration.
  returned: when a migration ran
  type: dict
  contains:
    total_ms:
      description: Total migration time.
      type: int
    downtime_ms:
      description: Time the VM was paused.
      type: int
    memory_transferred_bytes:
      description: Guest memory sent.
      type: int
    iterations:
      description: Pre-copy iterations.
      type: int
    wall_ms:
      description: Time the migration call took, as this module measured it.
      type: int
    started_at:
      description: When the migration started (seconds since the epoch, the source's clock).
      type: float
    finished_at:
      description: When it finished (seconds since the epoch, the source's clock).
      type: float
"""

import threading
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.havirt.cluster.plugins.module_utils.live_migrate import (
    available_memory_kib,
    default_max_downtime_ms,
    domain_requirements,
    driver_problems,
    job_summary,
    flag_names,
    migration_flags,
    migration_params,
    option_problems,
    reservation_problems,
    xen_guest_problems,
    xen_virt_caps,
)

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False


def running_domains(conn):
    return [dom.name() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]


def describe_destination(params, req):
    info = dict(name=params["destination"], running=[], reachable=False,
                role="hypervisor" if params["destination"] in params["hypervisors"] else "not in the hypervisors group")
    uri = params["destination_uri"].replace("DESTINATION", params["destination"])
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        info["error"] = "%s: %s" % (uri, exc)
        return info, None
    try:
        memory = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
    except libvirt.libvirtError:
        memory = {"free": conn.getFreeMemory() // 1024}
    info.update(reachable=True, hypervisor=conn.getType(), running=running_domains(conn),
                free_memory_kib=available_memory_kib(memory), reserve_memory_kib=params["reserve_memory_mb"] * 1024,
                storage_missing=[], cpu_compatible=None)
    for secret in req["secrets"]:
        usage_type = getattr(libvirt, "VIR_SECRET_USAGE_TYPE_" + (secret["type"] or "").upper(), None)
        try:
            conn.secretLookupByUsage(usage_type, secret["usage"])
        except (libvirt.libvirtError, TypeError):
            info["storage_missing"].append("the libvirt secret '%s' (%s)" % (secret["usage"], secret["type"]))
    if req["cpu"]:
        try:
            info["cpu_compatible"] = conn.compareHypervisorCPU(
                None, req["arch"], req["machine"], req["virttype"], req["cpu"], 0) != libvirt.VIR_CPU_COMPARE_INCOMPATIBLE
        except libvirt.libvirtError as exc:
            info["cpu_compatible"] = False
            info["cpu_error"] = str(exc)
    return info, conn


def migrate(dom, dest_uri, params, flags, timeout):
    """Run the migration; abort it after `timeout` s. Returns an error text or None."""
    outcome = {}

    def run():
        try:
            dom.migrateToURI3(dest_uri, params, flags)
        except libvirt.libvirtError as exc:
            outcome["error"] = str(exc)
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        try:
            dom.abortJob()
        except libvirt.libvirtError:
            pass
        worker.join(60)
        return "the migration did not finish within %d s and was aborted" % timeout
    return outcome.get("error")


def clean_up(conn, dom, vm, dest_uri, destination):
    """After a failed migration: no job left on the source, and no copy of
    the VM on the destination as long as it runs here. A destination whose
    libvirtd died is reached again (socket activation restarts it, and it
    stops the half-received QEMU itself); returns what was done."""
    cleaned = []
    try:
        if dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE:
            dom.abortJob()
            cleaned.append("aborted the job left on the source")
    except libvirt.libvirtError:
        pass
    if vm not in running_domains(conn) or dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
        # Not running here (paused after a late failure, or gone): the
        # destination's copy may be the only one; leave it for a human.
        return cleaned
    dconn = None
    for dummy in range(10):
        try:
            dconn = libvirt.open(dest_uri)
            break
        except libvirt.libvirtError:
            time.sleep(1)
    if dconn is None:
        cleaned.append("could not reach %s to check for a leftover copy" % destination)
        return cleaned
    try:
        leftover = dconn.lookupByName(vm)
    except libvirt.libvirtError:
        return cleaned
    try:
        if leftover.isActive():
            leftover.destroy()
            cleaned.append("stopped the incomplete copy of %s on %s" % (vm, destination))
        if leftover.isPersistent():
            # A UEFI VM's variables file stays (libvirt refuses a plain undefine of such a VM).
            leftover.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)
            cleaned.append("undefined the copy of %s on %s" % (vm, destination))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            # libvirtd, restarted, stops an interrupted incoming migration itself.
            cleaned.append("%s's libvirtd removed its incomplete copy of %s itself" % (destination, vm))
        else:
            cleaned.append("could not remove the copy of %s on %s: %s" % (vm, destination, exc))
    return cleaned


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            destination=dict(type="str", required=True),
            hypervisors=dict(type="list", elements="str", required=True),
            source_uri=dict(type="str", default="qemu:///system"),
            destination_uri=dict(type="str", default="qemu+tls://DESTINATION/system"),
            migrate_address=dict(type="str"),
            tls=dict(type="bool", default=True),
            tunnelled=dict(type="bool", default=False),
            persistent=dict(type="bool", default=True),
            max_downtime_ms=dict(type="int"),
            bandwidth_mib=dict(type="int", default=0),
            auto_converge=dict(type="bool", default=False),
            postcopy=dict(type="bool", default=False),
            compressed=dict(type="bool", default=False),
            parallel_connections=dict(type="int", default=1),
            reserve_memory_mb=dict(type="int", default=0),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (Debian: python3-libvirt)"))
    params = module.params
    vm = params["name"]
    wrong = option_problems(params)
    if wrong:
        module.fail_json(msg="not migrating %s: %s. Nothing was changed." % (vm, "; ".join(wrong)))
    flags = migration_flags(params)
    mig_params = migration_params(params)
    result = dict(changed=False, source=None, destination=None,
                  plan=dict(flags=flag_names(flags), params=mig_params, max_downtime_ms=params["max_downtime_ms"]))
    try:
        conn = libvirt.open(params["source_uri"])
    except libvirt.libvirtError as exc:
        module.fail_json(msg="cannot open %s on this host: %s" % (params["source_uri"], exc), **result)
    here = dict(name=conn.getHostname().split(".")[0], hypervisor=conn.getType(), running=running_domains(conn))
    if params["max_downtime_ms"] == 0:
        params["max_downtime_ms"] = default_max_downtime_ms(here["hypervisor"], conn.getVersion())
        result["plan"]["max_downtime_ms"] = params["max_downtime_ms"]
    unsupported = driver_problems(here["hypervisor"], params)
    if unsupported:
        module.fail_json(msg="not migrating %s: %s's libvirt driver cannot do what was asked: %s (the xen_migration "
                         "role's variables). Nothing was changed." % (vm, here["hypervisor"], "; ".join(unsupported)),
                         problems=unsupported, **result)
    dom = None
    if vm in here["running"]:
        dom = conn.lookupByName(vm)
    req = domain_requirements(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE) if dom else "<domain/>")
    result["plan"]["disk_paths"] = req["paths"]
    xl = module.get_bin_path("xl") if dom is not None and str(here["hypervisor"]).upper() == "XEN" else None
    if xl:
        rc, out, err = module.run_command([xl, "info"])
        guest = xen_guest_problems(vm, req["os_type"], xen_virt_caps(out) if rc == 0 else None)
        if guest:
            module.fail_json(msg="not migrating %s: %s. Nothing was changed." % (vm, "; ".join(guest)),
                             problems=guest, **result)
    there, dconn = describe_destination(params, req)
    if dom is None and vm in there.get("running", []):
        result.update(source=params["destination"], destination=params["destination"])
        module.exit_json(msg="%s already runs on %s" % (vm, params["destination"]), **result)
    required = dom.info()[2] if dom else 0
    problems = reservation_problems(vm, here, there, required)
    result["source"] = here["name"] if dom else None
    if problems:
        module.fail_json(msg="not migrating %s to %s: %s. Nothing was changed."
                         % (vm, params["destination"], "; ".join(problems)), problems=problems, **result)
    result.update(source=here["name"], destination=params["destination"], changed=True)
    if module.check_mode:
        module.exit_json(**result)
    if params["max_downtime_ms"]:
        dom.migrateSetMaxDowntime(params["max_downtime_ms"], 0)
    dest_uri = params["destination_uri"].replace("DESTINATION", params["destination"])
    started = time.monotonic()
    started_at = time.time()
    error = migrate(dom, dest_uri, mig_params, flags, params["timeout"])
    if error:
        cleaned = clean_up(conn, dom, vm, dest_uri, params["destination"])
        still_here = vm in running_domains(conn)
        module.fail_json(msg="migration of %s to %s failed: %s. %s runs on %s. %s"
                         % (vm, params["destination"], error, vm, here["name"] if still_here else "?",
                            "Cleaned up: " + "; ".join(cleaned) + "." if cleaned else "Nothing was left to clean up."),
                         cleaned_up=cleaned, source=here["name"], destination=here["name"] if still_here else None,
                         plan=result["plan"])
    stats = {}
    try:
        stats = dconn.lookupByName(vm).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError:
        pass
    result["stats"] = job_summary(stats)
    result["stats"]["wall_ms"] = int((time.monotonic() - started) * 1000)
    result["stats"]["started_at"] = round(started_at, 3)
    result["stats"]["finished_at"] = round(started_at + (time.monotonic() - started), 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
