"""tools/bench/migration.py's bookkeeping, offline: the maximum downtimes
of --downtime-ms, the key of each mode, the figures of a mode with the
crashed migrations counted apart (never in the medians), the printed table
(limit and crash count on each line) and the JSON that keeps each crashed
guest's post-mortem."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "bench" / "migration.py"
spec = importlib.util.spec_from_file_location("bench_migration", TOOL)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

# A kernel panic as the lab's guests print it on their serial console
# (shape of the post-mortem tools/labkit/vms.py postmortem() returns).
POSTMORTEM = """--- cluster: resource vm-passata is running on: servvirt2
--- servvirt1: not defined here
--- servvirt2: running (migrated)
console log (last 25 lines):
[  612.904113] list_add corruption. prev->next should be next (ffff8880047a3e50), but was 0000000000000000.
[  612.913840] Kernel panic - not syncing: Fatal exception in interrupt"""


def _run(limit, probe, qemu, total, crashed=False, **extra):
    run = {"from": "servvirt1", "to": "servvirt2", "qemu_downtime_ms": qemu, "total_ms": total, "max_downtime_ms": limit,
           "probe_downtime_ms": probe, "probe_lost": 0, "http_mib_s_during": 80.0, "http_mib_s_outside": 110.0,
           "wall_ms": total + 200, **extra}
    if crashed:
        run.update(guest_crashed=True, postmortem=POSTMORTEM,
                   recovery={"how": "crm_resource --resource vm-passata --restart", "answering_after_s": 41.5,
                             "now_on": "servvirt1"})
    return run


@pytest.mark.parametrize("text, limits", [("300", [300]), ("20,300", [20, 300]), (" 20 , 300 ", [20, 300])])
def test_downtime_limits_are_read_in_order(text, limits):
    assert bench.parse_limits(text) == limits


@pytest.mark.parametrize("text", ["", "0", "20,,300", "1.5", "-5", "20ms", "²", "20,20"])
def test_a_wrong_downtime_limit_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        bench.parse_limits(text)


def test_the_option_refuses_a_wrong_limit_before_anything_runs(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument("--downtime-ms", type=bench.parse_limits)
    with pytest.raises(SystemExit):
        parser.parse_args(["--downtime-ms", "20,0"])
    assert "not a maximum downtime in ms" in capsys.readouterr().err


def test_the_baseline_limit_is_one_limit_read_by_the_same_rules():
    assert bench.parse_limit(" 10 ") == 10
    for text in ("0", "10,20", "-5", "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_limit(text)


@pytest.mark.parametrize("method, limit, several, key", [
    ("havirt", 300, False, "havirt"),
    ("havirt", 20, True, "havirt@20"),
    ("baseline", None, False, "baseline"),
    ("baseline", None, True, "baseline"),
])
def test_mode_keys(method, limit, several, key):
    assert bench.mode_key(method, limit, several) == key


@pytest.mark.parametrize("methods, limits, baseline_limit, modes", [
    (["havirt", "baseline"], [300], None, [("havirt", "havirt", 300), ("baseline", "baseline", None)]),
    (["havirt", "baseline"], [20, 300], None,
     [("havirt@20", "havirt", 20), ("havirt@300", "havirt", 300), ("baseline", "baseline", None)]),
    (["havirt", "baseline"], [20], 20, [("havirt", "havirt", 20), ("baseline@20", "baseline", 20)]),
    (["baseline"], [300], 10, [("baseline@10", "baseline", 10)]),
])
def test_modes_and_the_limit_each_sets(methods, limits, baseline_limit, modes):
    assert bench.plan_modes(methods, limits, baseline_limit) == modes


def test_a_crashed_migration_is_counted_and_left_out_of_the_figures():
    runs = [_run(20, 60.0, 24, 1300), _run(20, 80.0, 28, 1500), _run(20, 15000.0, 900, 9000, crashed=True)]
    figures = bench.summary(runs)
    assert figures["max_downtime_ms"] == [20]
    assert (figures["migrations"], figures["runs"], figures["guest_crashes"]) == (3, 2, 1)
    assert figures["probe_downtime_ms_median"] == 70.0
    assert figures["probe_downtime_ms_max"] == 80.0
    assert figures["qemu_downtime_ms_max"] == 28
    assert figures["total_ms_max"] == 1500
    assert figures["details"] == runs


def test_plain_virsh_is_listed_with_the_limits_qemu_reported():
    runs = [_run(300, 170.0, 140, 1480), _run(None, 160.0, 130, 1490), _run(300, 180.0, 150, 1470)]
    assert bench.summary(runs)["max_downtime_ms"] == [300]
    assert bench.summary([_run(None, 170.0, 140, 1480)])["max_downtime_ms"] == []


def test_the_table_shows_each_modes_limit_and_crashes(tmp_path):
    runs = {
        "havirt@20": [_run(20, 60.0, 24, 1300), _run(20, 15000.0, 900, 9000, crashed=True)],
        "havirt@300": [_run(300, 150.0, 140, 1200), _run(300, 160.0, 150, 1250)],
        "baseline": [_run(None, 170.0, 140, 1480), _run(None, 175.0, 145, 1490)],
    }
    results = bench.save(tmp_path / "migration.json", runs, {"complete": True})
    lines = bench.table(results).splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["havirt@20", "havirt@300", "baseline"]
    assert lines[2].split()[1:3] == ["20", "1"]  # limit, runs counted
    assert lines[2].endswith("1 of 2")
    assert lines[3].split()[1:3] == ["300", "2"]
    assert lines[3].endswith("0 of 2")
    assert lines[4].split()[1] == "?"  # QEMU's limit not read
    # Every line of figures ends in the crashed column, under its title.
    assert len({len(line) for line in [lines[0]] + lines[2:]}) == 1


def test_a_crashed_guests_postmortem_is_in_the_json_and_listed(tmp_path):
    out = tmp_path / "results" / "migration.json"
    runs = {"havirt_busy": [_run(20, 70.0, 25, 2800), _run(20, 15000.0, 900, 9000, crashed=True)]}
    bench.save(out, runs, {"vm": "passata", "complete": False})
    written = json.loads(out.read_text())
    assert written["meta"] == {"vm": "passata", "complete": False}
    assert written["havirt_busy"]["guest_crashes"] == 1
    assert "Kernel panic - not syncing" in written["havirt_busy"]["details"][1]["postmortem"]
    assert bench.crashes(written) == [
        "havirt_busy run 2: servvirt1 -> servvirt2 at 20 ms; crm_resource --resource vm-passata --restart, "
        "answering again after 41.5 s (post-mortem in the JSON)"]
