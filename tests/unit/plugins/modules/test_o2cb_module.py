"""Edge cases of the o2cb module, with run_command answering as the real o2cb did.

The normal flow (add, remove, replace, check mode, diff, idempotence) was run
against a real host; these tests cover what is hard to provoke there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.havirt.cluster.plugins.modules import o2cb

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "o2cb"
TWO_NODES = [dict(name="servdb", ip="10.210.3.10", number=0), dict(name="servvirt1", ip="10.210.3.11", number=1)]


def captured(name):
    def read(ext):
        return (FIXTURES / ("%s.%s" % (name, ext))).read_text()
    return int(read("rc")), read("stdout"), read("stderr")


@pytest.fixture
def run(run_module, tmp_path):
    """Run the module with ``args``; ``answers`` maps an o2cb command to (rc, stdout, stderr)."""
    calls = []

    def runner(args, answers, binary="/usr/sbin/o2cb", check_mode=False):
        args = dict(args, config_file=str(tmp_path / "cluster.conf"))

        def run_command(argv, _data):
            calls.append(argv)
            assert argv[:3] == [binary, "--config-file", args["config_file"]]
            return answers.get(argv[3], (0, "", ""))
        kind, result = run_module(o2cb.main, args, run_command, binary, check_mode=check_mode)
        return kind, result, calls

    return runner


def test_missing_o2cb_says_install_ocfs2_tools(run):
    kind, result, calls = run(dict(cluster_name="lab", nodes=TWO_NODES), {}, binary=None)
    assert kind == "fail" and "install the ocfs2-tools package" in result["msg"] and calls == []


def test_bad_input_fails_before_running_anything(run):
    nodes = TWO_NODES + [dict(name="servvirt2", ip="10.210.3.11", number=1)]
    kind, result, calls = run(dict(cluster_name="my-cluster", nodes=nodes), {})
    assert kind == "fail" and calls == []
    assert result["msg"].startswith("nothing changed, fix the input first")
    assert len(result["problems"]) == 3  # cluster name, duplicate number, duplicate ip:port


def test_nodes_required_with_state_present(run):
    kind, result, calls = run(dict(cluster_name="lab"), {})
    assert kind == "fail" and "nodes" in result["msg"] and calls == []


def test_unchanged_cluster(run):
    answers = {"list-clusters": captured("list-clusters-one"), "list-cluster": captured("list-cluster-two-nodes")}
    kind, result, calls = run(dict(cluster_name="lab", nodes=TWO_NODES), answers)
    assert kind == "exit" and result["changed"] is False and result["commands"] == []
    assert result["cluster"]["node_count"] == 2
    assert [call[3] for call in calls] == ["list-clusters", "list-cluster"]


def test_check_mode_runs_only_list_commands(run):
    answers = {"list-clusters": captured("list-clusters-no-file")}
    kind, result, calls = run(dict(cluster_name="lab", nodes=TWO_NODES), answers, check_mode=True)
    assert kind == "exit" and result["changed"] is True
    assert [call[3] for call in calls] == ["list-clusters"]
    assert [cmd[3] for cmd in result["commands"]] == ["add-cluster", "add-node", "add-node"]
    assert result["added"] == ["servdb", "servvirt1"] and result["cluster"]["node_count"] == 2


def test_error_with_exit_code_zero_fails(run):
    # o2cb prints "Cluster 'lab' already exists" and exits 0.
    answers = {"list-clusters": captured("list-clusters-no-file"), "add-cluster": captured("add-cluster-exists")}
    kind, result, calls = run(dict(cluster_name="lab", nodes=TWO_NODES), answers)
    assert kind == "fail" and "already exists" in result["msg"] and "add-cluster lab" in result["msg"]
    assert result["rc"] == 0 and result["commands"] == [calls[-1]]


def test_failed_command_reports_argv_and_stderr(run):
    answers = {"list-clusters": captured("list-clusters-one"), "list-cluster": captured("list-cluster-no-nodes"),
               "add-node": captured("add-node-duplicate-number")}
    kind, result, calls = run(dict(cluster_name="lab", nodes=TWO_NODES), answers)
    assert kind == "fail" and result["rc"] == 1
    assert "Choose another node number as '1' is in use" in result["msg"]
    assert result["cmd"][3:6] == ["add-node", "lab", "servdb"]


def test_unreadable_configuration_fails_with_o2cb_message(run):
    answers = {"list-clusters": captured("list-clusters-unparsable-file")}
    kind, result, calls = run(dict(cluster_name="lab", nodes=TWO_NODES), answers)
    assert kind == "fail" and "while loading cluster configuration file" in result["msg"]


def test_success_that_did_not_happen_is_caught(run):
    # Every command "succeeds" but list-cluster still shows no nodes.
    answers = {"list-clusters": captured("list-clusters-one"), "list-cluster": captured("list-cluster-no-nodes")}
    kind, result, calls = run(dict(cluster_name="lab", nodes=TWO_NODES), answers)
    assert kind == "fail" and "o2cb reported success" in result["msg"]


def test_absent_cluster_stays_absent(run):
    answers = {"list-clusters": captured("list-clusters-no-file")}
    kind, result, calls = run(dict(cluster_name="lab", state="absent"), answers)
    assert kind == "exit" and result["changed"] is False and result["cluster"] is None
