#!/usr/bin/env python3
"""make bench-migration: live migration of one of the lab's VMs, measured
from outside, with havirt (migrate.yml) and with plain `virsh migrate` at
libvirt's defaults, side by side in one run.

For each case (guest idle, guest rewriting memory without pause) and each
mode (havirt at each maximum downtime of --downtime-ms, by default the
inventory's xen_migration_max_downtime_ms; plain virsh), RUNS migrations
back and forth, interleaved. During each one the storage node probes the
guest with ICMP every 5 ms and pulls HTTP from it (tools/bench/probe.py).
Printed and written to bench/results/migration.json: the maximum downtime
each mode ran with, downtime seen by the probe (largest gap between
replies minus the probe interval), downtime and total time reported by
QEMU (libvirt's completed-job statistics), HTTP throughput during versus
outside the migration, and how many migrations crashed the guest.

A guest that does not answer HTTP within 30 s of its migration counts as
crashed (its figures are left out of the medians). What the hypervisors
know of it (tools/labkit/vms.py postmortem: libvirt's state and reason, the
end of its console log, where a kernel panic shows) is printed and
written to the JSON at once; then the cluster manager restarts it
(`crm_resource --restart`: a panicked guest's QEMU still runs, so the
cluster's monitor sees nothing wrong), and the benchmark goes on when it
answers again. The JSON is rewritten after every migration, so what was
measured survives a run that stops.

A VM the cluster runs is moved by plain virsh as migrate.yml moves it:
its resource in maintenance for the move, the domain kept transient (as
the cluster started it), then `crm_resource --refresh` and maintenance
off, so the cluster never finds it moved behind its back.

A benchmark, not a test: it prints numbers and fails only when a
migration fails or the cluster cannot bring a crashed guest back. Needs
the lab up and converged (`make bench-migration` does both)."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tools"))  # labkit

from labkit import inventory as inv  # noqa: E402  (the inventory, read as the playbooks read it)
from labkit import probes  # noqa: E402
from labkit import vms as lab_vms  # noqa: E402

PROBE_INTERVAL_S = 0.005
BASELINE_TIMEOUT_S = 120
# A guest that has not answered HTTP this long after its migration counts
# as crashed (wait_for_http: tries of up to 10 s; a migrated TCG guest's
# first answer took 6 s in the VM lab).
ANSWER_TIMEOUT_S = 30
# A guest restarted by the cluster: its boot under TCG (about a minute in
# the VM lab, where QEMU runs inside TCG VMs).
BOOT_TIMEOUT_S = 240
CLUSTER_WAIT = "120s"
CASES = (("idle", "", False), ("busy", "_busy", True))


ssh = inv.ssh_argv


def remote(name: str, command: str, check: bool = True) -> str:
    run = subprocess.run(ssh(name) + [command], capture_output=True, text=True, timeout=600)
    if check and run.returncode != 0:
        raise RuntimeError(f"{name}: {command}: {run.stderr.strip()}")
    return run.stdout


def parse_limits(text: str) -> list[int]:
    """--downtime-ms: maximum downtimes in ms, comma-separated ("20,300")."""
    limits = []
    for word in (w.strip() for w in text.split(",")):
        if not re.fullmatch(r"[0-9]+", word) or int(word) == 0:
            raise argparse.ArgumentTypeError(f"not a maximum downtime in ms (a whole number above 0): {word!r}")
        if int(word) in limits:
            raise argparse.ArgumentTypeError(f"{word} ms is given twice")
        limits.append(int(word))
    return limits


def parse_limit(text: str) -> int:
    """--baseline-downtime-ms: one maximum downtime in ms (parse_limits' rules)."""
    limits = parse_limits(text)
    if len(limits) != 1:
        raise argparse.ArgumentTypeError(f"one maximum downtime in ms, not {text!r}")
    return limits[0]


def mode_key(method: str, limit: int | None, several: bool) -> str:
    """Key of a mode in the results: havirt (havirt@20, havirt@300 when
    several limits are compared in one run) or baseline."""
    return f"havirt@{limit}" if method == "havirt" and several else method


def plan_modes(methods: list[str], limits: list[int], baseline_limit: int | None) -> list[tuple[str, str, int | None]]:
    """(key, method, maximum downtime to set) of each mode, in run order:
    havirt once per limit, plain virsh once (at libvirt's default, or at
    baseline_limit: then keyed baseline@MS)."""
    modes = []
    for method in methods:
        if method == "havirt":
            modes += [(mode_key(method, ms, len(limits) > 1), method, ms) for ms in limits]
        else:
            modes.append((f"baseline@{baseline_limit}" if baseline_limit else "baseline", method, baseline_limit))
    return modes


def summary(runs: list[dict]) -> dict:
    """One mode's figures: medians of the migrations whose guest survived,
    the crashes counted apart, the maximum downtime(s) it ran with."""
    crashed = [r for r in runs if r.get("guest_crashed")]
    runs_ok = [r for r in runs if not r.get("guest_crashed")]

    def med(key):
        values = [r[key] for r in runs_ok if r.get(key) is not None]
        return round(statistics.median(values), 1) if values else None
    return {
        "max_downtime_ms": sorted({r["max_downtime_ms"] for r in runs if r.get("max_downtime_ms") is not None}),
        "migrations": len(runs),
        "runs": len(runs_ok),
        "probe_downtime_ms_median": med("probe_downtime_ms"),
        "probe_downtime_ms_max": max((r["probe_downtime_ms"] for r in runs_ok), default=None),
        "qemu_downtime_ms_median": med("qemu_downtime_ms"),
        "qemu_downtime_ms_max": max((r["qemu_downtime_ms"] or 0 for r in runs_ok), default=None),
        "total_ms_median": med("total_ms"),
        "total_ms_max": max((r["total_ms"] or 0 for r in runs_ok), default=None),
        "http_mib_s_during_median": med("http_mib_s_during"),
        "http_mib_s_outside_median": med("http_mib_s_outside"),
        "guest_crashes": len(crashed),
        "details": runs,
    }


def table(results: dict) -> str:
    """The printed table: one line per mode and case, in the results' order."""
    lines = [
        f"{'case':17}{'limit ms':>9}{'runs':>5}{'probe gap ms':>22}{'QEMU downtime ms':>18}{'total ms':>10}"
        f"{'HTTP MiB/s during/outside':>28}{'crashed':>10}",
        f"{'':31}{'median':>11}{'max':>11}{'median':>18}{'median':>10}",
    ]
    for key, r in results.items():
        if key == "meta":
            continue
        limit = "/".join(str(ms) for ms in r["max_downtime_ms"]) or "?"
        lines.append(f"{key:17}{limit:>9}{r['runs']:>5}{r['probe_downtime_ms_median']!s:>11}"
                     f"{r['probe_downtime_ms_max']!s:>11}{r['qemu_downtime_ms_median']!s:>18}{r['total_ms_median']!s:>10}"
                     f"{r['http_mib_s_during_median']!s:>16} / {r['http_mib_s_outside_median']!s:<9}"
                     f"{str(r['guest_crashes']) + ' of ' + str(r['migrations']):>10}")
    return "\n".join(lines)


def crashes(results: dict) -> list[str]:
    """One line per migration after which the guest stopped answering."""
    lines = []
    for key, r in results.items():
        if key == "meta":
            continue
        for number, run in enumerate(r["details"], 1):
            if run.get("guest_crashed"):
                back = run.get("recovery") or {}
                lines.append(f"{key} run {number}: {run['from']} -> {run['to']} at {'/'.join(map(str, r['max_downtime_ms']))}"
                             f" ms; {back.get('how', 'not restarted')}, answering again after "
                             f"{back.get('answering_after_s', '?')} s (post-mortem in the JSON)")
    return lines


def other(host: str) -> str:
    return next(h for h in inv.group("hypervisors") if h != host)


def the_host(vm: str) -> str:
    """The one hypervisor the VM runs on."""
    hosts = lab_vms.running_on(vm)
    if len(hosts) != 1:
        raise RuntimeError(f"{vm} runs on {hosts or 'no hypervisor'}, expected one:\n{lab_vms.postmortem(vm)}")
    return hosts[0]


def cluster_managed() -> bool:
    """Whether the cluster manager runs the VMs (vms and pacemaker roles' switch)."""
    value = inv.hostvars(inv.group("hypervisors")[0]).get("havirt_vms_cluster_managed", True)
    return str(value).lower() in ("true", "yes", "on", "1")


def inventory_limit() -> int:
    """The maximum downtime migrate.yml uses with this inventory."""
    return int(inv.role_var(inv.group("hypervisors")[0], "xen_migration", "xen_migration_max_downtime_ms"))


def crm_try(*argv: str):
    """crm_resource on the storage node, for commands whose failure is an
    answer (tools/labkit/vms.py crm() is for those that must succeed)."""
    return inv.node(inv.group("storage")[0]).run("crm_resource " + " ".join(["%s"] * len(argv)), *argv)


def cluster_lets_go(vm: str) -> None:
    """As migrate.yml before its move: the cluster neither monitors, stops
    nor restarts the VM until cluster_takes_back()."""
    lab_vms.crm(inv, "--resource", lab_vms.resource(vm), "--meta", "--set-parameter", "maintenance", "--parameter-value", "true")
    lab_vms.crm(inv, "--wait", "--timeout", CLUSTER_WAIT)


def cluster_takes_back(vm: str) -> None:
    """As migrate_settle.yml: the cluster probes where the VM runs now,
    then watches it again."""
    rid = lab_vms.resource(vm)
    lab_vms.crm(inv, "--refresh", "--resource", rid)
    lab_vms.crm(inv, "--wait", "--timeout", CLUSTER_WAIT)
    gone = crm_try("--resource", rid, "--meta", "--delete-parameter", "maintenance")
    if gone.rc not in (0, 105):  # 105 (ENXIO): not set (cluster_lets_go failed before setting it)
        raise RuntimeError(f"{rid} stays in maintenance: crm_resource rc {gone.rc}: {gone.stderr.strip()}")
    lab_vms.crm(inv, "--wait", "--timeout", CLUSTER_WAIT)


def migrate_havirt(vm: str, extra: tuple[str, ...] = ()) -> dict:
    # Only the json callback (it is the stdout one, so listing it adds nothing): ansible-core 2.19+
    # refuses an empty ANSIBLE_CALLBACKS_ENABLED ("A non-empty plugin name is required").
    env = inv.clean_env(ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.json")
    run = subprocess.run(["ansible-playbook", *inv.inventory_args(), "migrate.yml", "-e", f"vm={vm}", *extra],
                         cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        raise RuntimeError("migrate.yml failed:\n" + run.stdout[-3000:] + run.stderr[-2000:])
    for play in json.loads(run.stdout)["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                stats = result.get("stats")
                if isinstance(stats, dict) and "started_at" in stats:
                    # The limit live_migrate set (the one it chose by the source's QEMU, when asked for 0).
                    return {"start": stats["started_at"], "end": stats["finished_at"],
                            "qemu_downtime_ms": stats["downtime_ms"], "total_ms": stats["total_ms"],
                            "max_downtime_ms": (result.get("plan") or {}).get("max_downtime_ms")}
    raise RuntimeError("no migration statistics in migrate.yml's output")


def migrate_baseline(vm: str, set_limit: int | None = None) -> dict:
    """Plain virsh at libvirt's defaults (no maximum downtime of its own,
    no auto-converge), over the same TLS connection and address as havirt:
    this lab's libvirt requires TLS (migrate_tls_force). With set_limit,
    `virsh migrate-setmaxdowntime` first: the libvirt call havirt's module
    makes before its move, so that the two differ only by havirt's own
    choices (flags, auto-converge, the playbook around the move). A VM the
    cluster runs stays transient and is handed back to the cluster
    afterwards, moved or not; any other VM moves its definition along, as
    migrate.yml does."""
    source = the_host(vm)
    dest = other(source)
    address = inv.hostvars(dest)["havirt_cluster_address"]
    managed = cluster_managed()
    if set_limit:
        remote(source, f"virsh migrate-setmaxdowntime {vm} {set_limit}")
    # The limit QEMU will use (its own default unless someone set one on
    # this QEMU process, e.g. a havirt migration that failed and left it).
    limit = remote(source, f"virsh migrate-getmaxdowntime {vm}", check=False).strip()
    try:
        if managed:
            cluster_lets_go(vm)
        out = remote(source, f"s=$(date +%s.%N); virsh migrate --live --p2p{'' if managed else ' --persistent --undefinesource'}"
                             f" --tls --timeout {BASELINE_TIMEOUT_S} {vm} qemu+tls://{dest}/system tcp://{address} >&2;"
                             f" rc=$?; echo $s $(date +%s.%N) $rc")
    finally:
        if managed:
            cluster_takes_back(vm)
    start, end, rc = out.split()
    if rc != "0":
        raise RuntimeError(f"virsh migrate {vm} {source} -> {dest} failed (rc {rc})")
    info = remote(dest, f"virsh domjobinfo --completed {vm}", check=False)

    def field(label):
        found = re.search(rf"^{label}:\s+(\d+)", info, re.M)  # virsh's labels, e.g. "Total downtime:   257   ms"
        return int(found.group(1)) if found else None
    return {"start": float(start), "end": float(end), "qemu_downtime_ms": field("Total downtime"),
            "total_ms": field("Time elapsed"), "max_downtime_ms": int(limit) if limit.isdigit() else None}


def analyse(probe: dict, start: float, end: float) -> dict:
    """Downtime seen from outside and HTTP throughput, from the probe's log."""
    replies = sorted(t for _seq, t in probe["replies"])
    window = [t for t in replies if start - 0.5 <= t <= end + 1.0]
    gaps = [b - a for a, b in zip(window, window[1:])]
    interval = probe["interval_s"]
    lost = sum(1 for seq, t in probe["sent"] if start <= t <= end and seq not in dict(probe["replies"]))

    def rate(transfers, span):
        return round(sum(size for _s, _e, size in transfers) / 1048576 / span, 1) if span > 0 else None
    during = [x for x in probe["http"] if start <= x[1] <= end]
    outside = [x for x in probe["http"] if x[1] < start - 0.1 or x[0] > end + 0.1]
    span_out = sum(e - s for s, e, _size in outside)
    return {
        "probe_downtime_ms": round(max(0.0, (max(gaps) if gaps else end - start) - interval) * 1000, 1),
        "probe_lost": lost,
        "http_mib_s_during": rate(during, end - start),
        "http_mib_s_outside": rate(outside, span_out),
    }


def one_run(method: str, limit: int | None, vm: str, storage: str, address: str, extra: tuple[str, ...]) -> dict:
    source = the_host(vm)
    probe = subprocess.Popen(ssh(storage) + [f"python3 /root/havirt-probe.py {address} {PROBE_INTERVAL_S}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        if method == "havirt":
            moved = migrate_havirt(vm, ("-e", f"xen_migration_max_downtime_ms={limit}", *extra))
            moved["max_downtime_ms"] = moved.get("max_downtime_ms") or limit
        else:
            moved = migrate_baseline(vm, limit)
        time.sleep(1.5)
    finally:
        out, err = probe.communicate("stop\n", timeout=60)
    if probe.returncode != 0:
        raise RuntimeError("probe failed: " + err)
    run = {"from": source, "to": (lab_vms.running_on(vm) or [None])[0], **moved,
           **analyse(json.loads(out), moved["start"], moved["end"])}
    run["wall_ms"] = round((run.pop("end") - run.pop("start")) * 1000)
    return run


def stopped_answering(vm: str) -> str | None:
    """None if the guest answers HTTP within ANSWER_TIMEOUT_S; otherwise
    what the hypervisors and the cluster know of it."""
    try:
        lab_vms.wait_for_http(vm, timeout=ANSWER_TIMEOUT_S)
        return None
    except AssertionError:
        pass
    cluster = ""
    if cluster_managed():
        where = crm_try("--resource", lab_vms.resource(vm), "--locate")
        cluster = "--- cluster: " + (where.stdout.strip() or where.stderr.strip()) + "\n"
    return cluster + lab_vms.postmortem(vm)


def restart_guest(vm: str) -> dict:
    """Restart a guest that stopped answering, through whoever runs it: the
    cluster manager (`crm_resource --restart`: target-role Stopped, wait
    for the stop, target-role back, wait for the start), or libvirt for a
    VM the cluster does not run. Waits until it answers HTTP again (the
    benchmark stops with its post-mortem if it does not)."""
    started = time.monotonic()
    if cluster_managed():
        rid = lab_vms.resource(vm)
        how = f"crm_resource --resource {rid} --restart"
        restart = crm_try("--resource", rid, "--restart")
        if restart.rc != 0:
            # The cluster already sees it stopped or failed ("... is not
            # running anywhere and so cannot be restarted"): clear its
            # failures and the cluster starts it.
            lab_vms.crm(inv, "--cleanup", "--resource", rid)
            words = (restart.stderr or restart.stdout).strip().splitlines()
            how += f" refused (rc {restart.rc}: {words[-1] if words else ''}), then crm_resource --cleanup --resource {rid}"
        lab_vms.crm(inv, "--wait", "--timeout", CLUSTER_WAIT)
    else:
        host = the_host(vm)
        how = f"virsh destroy and start on {host} (not a cluster resource)"
        remote(host, f"virsh destroy {vm} && virsh start {vm}")
    lab_vms.wait_for_http(vm, timeout=BOOT_TIMEOUT_S)
    return {"how": how, "answering_after_s": round(time.monotonic() - started, 1), "now_on": the_host(vm)}


def load(storage: str, address: str, busy_mib: int) -> None:
    """The guest rewrites busy_mib MiB of memory without pause (0: idle)."""
    remote(storage, f"curl -sS --max-time 30 'http://{address}/cgi-bin/busy?{busy_mib}'")
    time.sleep(2)


def save(out: Path, runs: dict[str, list[dict]], meta: dict) -> dict:
    results = {key: summary(key_runs) for key, key_runs in runs.items()}
    results["meta"] = meta
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", 10)))
    parser.add_argument("--vm", default="passata")
    parser.add_argument("--busy-mib", type=int, default=48, help="memory the busy guest rewrites without pause")
    parser.add_argument("--output", default=str(PROJECT / "bench" / "results" / "migration.json"))
    parser.add_argument("--downtime-ms", type=parse_limits, metavar="MS[,MS...]",
                        help="havirt's maximum downtime, one mode per value, e.g. 20,300 to compare them side by side "
                             "(default: the inventory's xen_migration_max_downtime_ms)")
    parser.add_argument("--baseline-downtime-ms", type=parse_limit, metavar="MS",
                        help="set this maximum downtime (virsh migrate-setmaxdowntime) before each plain virsh move, "
                             "as havirt's module does: tells havirt's own part from QEMU's (default: libvirt's)")
    parser.add_argument("--havirt-extra", action="append", default=[], metavar="VAR=VALUE",
                        help="extra variable for migrate.yml (e.g. xen_migration_auto_converge=false), to try other settings")
    parser.add_argument("--cases", default="idle,busy", help="idle, busy or both (default)")
    parser.add_argument("--methods", default="havirt,baseline", help="havirt, baseline or both (default)")
    args = parser.parse_args()
    if any(var.startswith("xen_migration_max_downtime_ms=") for var in args.havirt_extra):
        parser.error("set the maximum downtime with --downtime-ms (it is recorded with the results)")
    limits = args.downtime_ms or [inventory_limit()]
    methods = args.methods.split(",")
    if not set(methods) <= {"havirt", "baseline"} or not set(args.cases.split(",")) <= {c[0] for c in CASES}:
        parser.error("--methods takes havirt and/or baseline, --cases idle and/or busy")
    if "baseline" in methods and "drbd" in lab_vms.vm_spec(args.vm)["disk"]:
        parser.error(f"{args.vm}'s disk is on DRBD: plain virsh cannot move it without migrate.yml's two-primaries "
                     "window; use --methods havirt")
    storage = inv.group("storage")[0]
    address = lab_vms.vm_spec(args.vm)["address"]
    home = lab_vms.running_on(args.vm)
    if len(home) != 1:
        raise SystemExit(f"{args.vm} must run on exactly one hypervisor (runs on: {home or 'none'}); run site.yml")
    if cluster_managed():
        rid = lab_vms.resource(args.vm)
        if crm_try("--resource", rid, "--meta", "--get-parameter", "maintenance").stdout.strip() == "true":
            raise SystemExit(f"{rid} is in maintenance: the cluster does not watch {args.vm}. A move that was killed "
                             f"half-way is settled by `ansible-playbook migrate.yml -e vm={args.vm}`; otherwise give it back "
                             f"with `crm_resource --resource {rid} --meta --delete-parameter maintenance`")
    # The probe's tools (not part of the cluster; installed where missing,
    # as the tests' fixture does). probe.py runs on the node's python3,
    # which Ansible needs there anyway.
    probes.ensure([storage], probes.GUESTS)
    subprocess.run(ssh(storage) + ["cat > /root/havirt-probe.py"], check=True, timeout=60,
                   input=(PROJECT / "tools" / "bench" / "probe.py").read_text(), text=True)
    extra = tuple(x for var in args.havirt_extra for x in ("-e", var))
    modes = plan_modes(methods, limits, args.baseline_downtime_ms)
    cases = [c for c in CASES if c[0] in args.cases.split(",")]
    out = Path(args.output)
    meta = {"vm": args.vm, "memory_mb": lab_vms.vm_spec(args.vm)["memory_mb"], "probe_interval_ms": PROBE_INTERVAL_S * 1000,
            "busy_mib": args.busy_mib, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "havirt_settings": "migrate.yml with the inventory's xen_migration_* settings, xen_migration_max_downtime_ms="
                               + "/".join(str(ms) if ms else "0 (chosen by the source's QEMU)" for ms in limits)
                               + "".join(f" {var}" for var in args.havirt_extra),
            "baseline": "virsh migrate --live --p2p --tls, libvirt's defaults (max downtime: what QEMU reported before "
                        "the move" + (f", set to {args.baseline_downtime_ms} ms with virsh migrate-setmaxdowntime"
                                      if args.baseline_downtime_ms else "")
                        + "); a cluster resource stays transient, in maintenance for the move, then "
                        "crm_resource --refresh",
            "crash": f"no HTTP answer within {ANSWER_TIMEOUT_S} s of the migration: post-mortem kept, guest restarted "
                     "with crm_resource --restart, run left out of the medians",
            "complete": False}
    runs: dict[str, list[dict]] = {}
    try:
        for case, suffix, busy in cases:
            busy_mib = args.busy_mib if busy else 0
            load(storage, address, busy_mib)
            for key, _method, _limit in modes:
                runs[key + suffix] = []
            for i in range(args.runs):
                for key, method, limit in modes:
                    name = key + suffix
                    run = one_run(method, limit, args.vm, storage, address, extra)
                    runs[name].append(run)
                    print(f"{name:17} run {i + 1:2}/{args.runs}: {run['from']} -> {run['to']}, limit {run['max_downtime_ms']} ms,"
                          f" probe gap {run['probe_downtime_ms']} ms, QEMU downtime {run['qemu_downtime_ms']} ms,"
                          f" total {run['total_ms']} ms", flush=True)
                    postmortem = stopped_answering(args.vm)
                    if postmortem is not None:
                        # Counted apart, never in the figures (see the README).
                        run["guest_crashed"] = True
                        run["postmortem"] = postmortem
                        print(f"{name:17} run {i + 1:2}: the guest stopped answering after this migration:\n{postmortem}",
                              flush=True)
                        save(out, runs, meta)
                        run["recovery"] = restart_guest(args.vm)
                        load(storage, address, busy_mib)
                        print(f"{name:17} run {i + 1:2}: restarted ({run['recovery']['how']}), answering again after "
                              f"{run['recovery']['answering_after_s']} s on {run['recovery']['now_on']}", flush=True)
                    save(out, runs, meta)
        load(storage, address, 0)
        if lab_vms.running_on(args.vm) != home:
            migrate_havirt(args.vm)
        meta["complete"] = True
    except BaseException as error:
        meta["stopped_by"] = f"{type(error).__name__}: {error}"[-4000:]
        save(out, runs, meta)
        print(f"\nstopped; what was measured until then is in {out}", file=sys.stderr)
        raise
    results = save(out, runs, meta)
    print("\n" + table(results))
    for line in crashes(results):
        print(line)
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
