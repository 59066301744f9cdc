"""The pacemaker_cib module's flow, with run_command answering as the real
cibadmin did (fixtures/pacemaker_cib). The normal flow also runs against
the lab's real cluster (molecule/default/tests/test_pacemaker.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.havirt.cluster.plugins.modules import pacemaker_cib

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_cib"
LAB = (FIXTURES / "lab-cluster.xml").read_text()
SET_200 = ('<meta_attributes id="havirt-rsc-defaults">'
           '<nvpair id="havirt-rsc-defaults-resource-stickiness" name="resource-stickiness" value="200"/>'
           '<nvpair id="havirt-rsc-defaults-migration-threshold" name="migration-threshold" value="3"/>'
           '</meta_attributes>')


class Exit(Exception):
    pass


class Fail(Exception):
    pass


def captured(name):
    return int((FIXTURES / f"{name}.rc").read_text()), "", (FIXTURES / f"{name}.stderr").read_text()


@pytest.fixture
def run(monkeypatch):
    def runner(args, query=(0, LAB, ""), write=(0, "", ""), binary="/usr/sbin/cibadmin", check_mode=False, diff=False):
        calls = []
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(dict(ANSIBLE_MODULE_ARGS=args)).encode())
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: binary)

        def run_command(self, argv, *a, **k):
            calls.append((argv, k.get("data")))
            return query if argv[1:] == ["--query"] else write

        def exit_json(self, **result):
            raise Exit(result)

        def fail_json(self, **result):
            raise Fail(result)

        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
        monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
        with pytest.raises((Exit, Fail)) as info:
            pacemaker_cib.main()
        return info.type, info.value.args[0], calls
    return runner


def test_missing_cibadmin_names_the_package(run):
    kind, result, calls = run(dict(section="rsc_defaults", xml=SET_200), binary=None)
    assert kind is Fail and "pacemaker-cli-utils" in result["msg"] and calls == []


def test_cluster_not_running_says_what_to_check(run):
    kind, result, calls = run(dict(section="rsc_defaults", xml=SET_200), query=captured("query-no-cluster"))
    assert kind is Fail and len(calls) == 1
    assert "Could not connect to the CIB: No such device or address" in result["msg"]
    assert "systemctl status corosync pacemaker" in result["msg"]


def test_check_mode_reads_only_and_reports_the_diff(run):
    kind, result, calls = run(dict(section="rsc_defaults", xml=SET_200), check_mode=True, diff=True)
    assert kind is Exit and result["changed"] and result["action"] == "replace"
    assert [call[0][1:] for call in calls] == [["--query"]]
    assert 'value="100"' in result["diff"]["before"] and 'value="200"' in result["diff"]["after"]


def test_replace_pipes_the_element_in(run):
    kind, result, calls = run(dict(section="rsc_defaults", xml=SET_200))
    assert kind is Exit and result["changed"]
    argv, data = calls[1]
    assert argv[1:] == ["--replace", "--scope", "rsc_defaults", "--xml-pipe"]
    assert 'value="200"' in data and "200" not in " ".join(argv)


def test_unchanged_element_writes_nothing(run):
    same = SET_200.replace('value="200"', 'value="100"')
    kind, result, calls = run(dict(section="rsc_defaults", xml=same))
    assert kind is Exit and not result["changed"] and len(calls) == 1 and result["before"] == result["after"]


def test_refused_update_keeps_cibadmin_words(run):
    kind, result, calls = run(dict(section="resources", xml='<primitive id="bad" class="ocf"/>'),
                              write=captured("create-invalid"))
    assert kind is Fail and "does not conform to the configured schema" in result["msg"]
    assert result["msg"].startswith("cibadmin could not create resources 'bad' (rc 78)")


def test_absent_deletes_and_returns_empty_after(run):
    kind, result, calls = run(dict(section="resources", id="fence-lab", state="absent"), diff=True)
    assert kind is Exit and result["action"] == "delete" and result["after"] == "" and result["diff"]["after"] == ""
    assert calls[1] == (["/usr/sbin/cibadmin", "--delete", "--scope", "resources", "--xml-pipe"],
                        '<primitive id="fence-lab" />')


def test_bad_xml_fails_before_reading_the_cib(run):
    kind, result, calls = run(dict(section="resources", xml="<primitive class='ocf'/>"))
    assert kind is Fail and "no id attribute" in result["msg"] and calls == []
