"""Unit tests for the o2cb parsing and planning functions.

The fixtures are real: outputs of ocfs2-tools 1.8.7 (Debian 12) and files it
wrote, captured with ``o2cb --config-file=<scratch file> ...``. Each capture
NAME has NAME.cmd (the command line), NAME.stdout, NAME.stderr and NAME.rc;
the *.conf files are configuration files as o2cb wrote them (except
hand-written.conf and unparsable.conf, inputs fed to o2cb).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import o2cb as m

FIXTURES = Path(__file__).parent / "fixtures" / "o2cb"


def text(name):
    return (FIXTURES / name).read_text()


def capture(name):
    """(argv after the program and --config-file, stdout, stderr, rc) of a captured o2cb run."""
    argv = shlex.split(text(name + ".cmd"))
    args = [arg for arg in argv[1:] if not arg.startswith("--config-file")]
    return args, text(name + ".stdout"), text(name + ".stderr"), int(text(name + ".rc"))


def node(name, ip, number, port=7777):
    return dict(name=name, ip=ip, port=port, number=number)


TWO_NODES = [node("servdb", "10.210.3.10", 0), node("servvirt1", "10.210.3.11", 1)]
WRITTEN_BY_O2CB = [
    "cluster-no-nodes.conf", "cluster-two-nodes.conf", "cluster-global.conf", "cluster-three-nodes.conf",
    "two-clusters.conf", "two-clusters-after-replace.conf", "two-clusters-heartbeat.conf",
    "two-clusters-after-remove-cluster.conf", "after-remove-last-cluster.conf", "hand-written-after-add-node.conf",
]


# --- parsing -------------------------------------------------------------

def test_list_cluster_two_nodes():
    args, out, err, rc = capture("list-cluster-two-nodes")
    assert (args, err, rc) == (["list-cluster", "lab"], "", 0)
    assert m.parse_config(out) == [dict(name="lab", heartbeat_mode="local", nodes=TWO_NODES, heartbeats=[])]


def test_list_cluster_and_the_file_give_the_same_cluster():
    # list-cluster prints nodes before the cluster and keys in reverse order.
    listed = m.parse_config(capture("list-cluster-three-nodes")[1])
    assert listed == m.parse_config(text("cluster-three-nodes.conf"))
    assert [n["name"] for n in listed[0]["nodes"]] == ["servdb", "servvirt1", "servdb2"]


def test_list_cluster_without_nodes():
    out = capture("list-cluster-no-nodes")[1]
    assert m.parse_config(out) == [dict(name="lab", heartbeat_mode="local", nodes=[], heartbeats=[])]
    assert m.cluster_summary(m.parse_config(out)[0]) == dict(name="lab", heartbeat_mode="local", node_count=0, nodes=[])
    assert capture("list-nodes-no-nodes")[1:] == ("", "", 0)


def test_unknown_cluster_prints_nothing_and_exits_zero():
    # o2cb exits 0 for an unknown cluster: only stderr tells, so the module asks list-clusters first.
    for name in ("list-cluster-unknown", "list-cluster-no-file"):
        args, out, err, rc = capture(name)
        assert (out, rc) == ("", 0)
        assert err.startswith("o2cb: Unknown cluster '")
        assert m.parse_config(out) == []
        assert m.find_cluster(m.parse_config(out), args[-1]) is None


def test_list_clusters():
    assert m.parse_list_clusters(capture("list-clusters-one")[1]) == ["lab"]
    assert m.parse_list_clusters(capture("list-clusters-two")[1]) == ["alpha", "beta"]
    # A missing file is an empty configuration, not an error.
    assert capture("list-clusters-no-file")[1:] == ("", "", 0)
    assert m.parse_list_clusters("") == []


def test_list_nodes_output_parses_as_nodes_without_cluster_stanza():
    out = capture("list-nodes-two-nodes")[1]
    assert [stanza[0] for stanza in m.parse_stanzas(out)] == ["node", "node"]
    # Without a cluster: stanza the nodes belong to no cluster.
    assert m.parse_config(out) == []


def test_heartbeat_regions_and_global_mode():
    cluster = m.parse_config(capture("list-cluster-heartbeat")[1])[0]
    assert cluster["heartbeat_mode"] == "global"
    assert cluster["heartbeats"] == ["0123456789ABCDEF0123456789ABCDEF"]
    assert m.parse_config(capture("list-cluster-global")[1])[0]["heartbeat_mode"] == "global"


def test_two_clusters_in_one_file():
    clusters = m.parse_config(text("two-clusters-heartbeat.conf"))
    assert [(c["name"], c["heartbeat_mode"], len(c["nodes"]), c["heartbeats"]) for c in clusters] == [
        ("alpha", "local", 3, []), ("beta", "global", 1, ["0123456789ABCDEF0123456789ABCDEF"])]
    assert m.find_cluster(clusters, "ALPHA") is None  # o2cb's names are case-sensitive
    assert capture("list-clusters-two")[0] == ["list-clusters"]


def test_hand_written_file_spaces_comments_and_orphan_node():
    clusters = m.parse_config(text("hand-written.conf"))
    # n1 belongs to a cluster that does not exist: o2cb dropped it when it rewrote the file.
    assert clusters == [dict(name="hand", heartbeat_mode="local", nodes=[node("n0", "192.168.1.1", 0, 7777)],
                             heartbeats=[])]


@pytest.mark.parametrize("bad, message", [
    (text("unparsable.conf"), "line 1"),
    ("cluster:\n\tname = a\n\tnode_count = 1\n\nnode:\n\tcluster = a\n\tname = n\n\tnumber = x\n", "number"),
    ("cluster:\n\tnode_count = 0\n", "no name"),
    ("\tname = a\n", "line 1"),
    ("cluster:\n\tname = a\ncluster:\n\tname = a\n", "twice"),
])
def test_unparsable_text_raises(bad, message):
    with pytest.raises(m.O2cbConfigError, match=message):
        m.parse_config(bad)


def test_o2cb_refuses_the_unparsable_file_too():
    args, out, err, rc = capture("list-clusters-unparsable-file")
    assert rc == 1 and "while loading cluster configuration file" in err


# --- rendering -----------------------------------------------------------

@pytest.mark.parametrize("name", WRITTEN_BY_O2CB)
def test_render_reproduces_what_o2cb_wrote(name):
    written = text(name)
    assert m.render_config(m.parse_config(written)) == written


# --- planning ------------------------------------------------------------

def test_new_cluster_gives_the_file_o2cb_wrote():
    todo = m.plan(None, "lab", TWO_NODES)
    assert todo["steps"] == [
        ["add-cluster", "lab"],
        ["add-node", "lab", "servdb", "--ip", "10.210.3.10", "--port", "7777", "--number", "0"],
        ["add-node", "lab", "servvirt1", "--ip", "10.210.3.11", "--port", "7777", "--number", "1"],
    ]
    assert (todo["added"], todo["removed"], todo["replaced"]) == (["servdb", "servvirt1"], [], [])
    assert m.render_config([todo["cluster"]]) == text("cluster-two-nodes.conf")


def test_add_node_arguments_are_the_ones_o2cb_took():
    args, out, err, rc = capture("add-node")
    assert (out, err, rc) == ("", "", 0)
    assert m.add_node_args("lab", TWO_NODES[0]) == args


def test_same_nodes_plan_nothing():
    current = m.parse_config(capture("list-cluster-two-nodes")[1])[0]
    todo = m.plan(current, "lab", list(reversed(TWO_NODES)))
    assert todo["steps"] == [] and todo["cluster"]["nodes"] == TWO_NODES
    assert m.plan(current, "lab", TWO_NODES, heartbeat_mode="local")["steps"] == []


def test_added_node_goes_last():
    current = m.parse_config(text("cluster-two-nodes.conf"))[0]
    todo = m.plan(current, "lab", TWO_NODES + [node("servdb2", "10.210.3.13", 2)])
    assert todo["steps"] == [["add-node", "lab", "servdb2", "--ip", "10.210.3.13", "--port", "7777", "--number", "2"]]
    assert m.render_config([todo["cluster"]]) == text("cluster-three-nodes.conf")


def test_changed_node_is_removed_then_added_at_the_end():
    clusters = m.parse_config(text("two-clusters.conf"))
    wanted = [node("a0", "10.0.0.9", 0), node("a1", "10.0.0.2", 1), node("a2", "10.0.0.3", 2)]
    todo = m.plan(m.find_cluster(clusters, "alpha"), "alpha", wanted)
    assert todo["steps"] == [["remove-node", "alpha", "a0"],
                             ["add-node", "alpha", "a0", "--ip", "10.0.0.9", "--port", "7777", "--number", "0"]]
    assert (todo["added"], todo["removed"], todo["replaced"]) == ([], [], ["a0"])
    # The file o2cb wrote after the same remove-node and add-node.
    assert m.render_config(m.replace_cluster(clusters, "alpha", todo["cluster"])) == text(
        "two-clusters-after-replace.conf")


@pytest.mark.parametrize("change", [dict(ip="10.210.3.21"), dict(port=7778), dict(number=5)])
def test_any_changed_attribute_replaces(change):
    current = m.parse_config(text("cluster-two-nodes.conf"))[0]
    wanted = [TWO_NODES[0], dict(TWO_NODES[1], **change)]
    assert m.plan(current, "lab", wanted)["replaced"] == ["servvirt1"]


def test_removals_run_before_additions_so_numbers_can_swap():
    current = m.parse_config(text("cluster-two-nodes.conf"))[0]
    wanted = [node("servdb", "10.210.3.10", 1), node("servvirt1", "10.210.3.11", 0), node("new", "10.210.3.30", 2)]
    todo = m.plan(current, "lab", wanted)
    verbs = [step[0] for step in todo["steps"]]
    assert verbs == ["remove-node", "remove-node", "add-node", "add-node", "add-node"]
    assert (todo["added"], todo["replaced"]) == (["new"], ["servdb", "servvirt1"])
    assert [n["name"] for n in todo["cluster"]["nodes"]] == ["servdb", "servvirt1", "new"]


def test_unlisted_nodes_are_removed_and_empty_list_empties_the_cluster():
    current = m.parse_config(text("cluster-three-nodes.conf"))[0]
    todo = m.plan(current, "lab", TWO_NODES)
    assert (todo["steps"], todo["removed"]) == ([["remove-node", "lab", "servdb2"]], ["servdb2"])
    assert m.render_config([todo["cluster"]]) == text("cluster-two-nodes.conf")
    empty = m.plan(current, "lab", [])
    assert len(empty["steps"]) == 3 and empty["cluster"]["nodes"] == []


def test_heartbeat_mode():
    current = m.parse_config(text("cluster-two-nodes.conf"))[0]
    todo = m.plan(current, "lab", TWO_NODES, heartbeat_mode="global")
    assert todo["steps"] == [["heartbeat-mode", "lab", "global"]]
    assert m.render_config([todo["cluster"]]) == text("cluster-global.conf")
    # Not given: an existing mode is kept.
    glob = m.parse_config(text("cluster-global.conf"))[0]
    assert m.plan(glob, "lab", TWO_NODES)["steps"] == []
    assert m.plan(None, "lab", [], heartbeat_mode="global")["steps"] == [
        ["add-cluster", "lab"], ["heartbeat-mode", "lab", "global"]]


def test_heartbeat_regions_are_kept():
    clusters = m.parse_config(text("two-clusters-heartbeat.conf"))
    beta = m.find_cluster(clusters, "beta")
    todo = m.plan(beta, "beta", [node("b0", "10.0.1.1", 0), node("b1", "10.0.1.2", 1)])
    assert todo["cluster"]["heartbeats"] == ["0123456789ABCDEF0123456789ABCDEF"]
    assert "region = 0123456789ABCDEF0123456789ABCDEF" in m.render_config(
        m.replace_cluster(clusters, "beta", todo["cluster"]))


def test_absent():
    clusters = m.parse_config(text("two-clusters-heartbeat.conf"))
    todo = m.plan(m.find_cluster(clusters, "beta"), "beta", [], state="absent")
    assert (todo["steps"], todo["removed"], todo["cluster"]) == ([["remove-cluster", "beta"]], ["b0"], None)
    assert m.render_config(m.replace_cluster(clusters, "beta", None)) == text("two-clusters-after-remove-cluster.conf")
    assert m.plan(None, "beta", [], state="absent")["steps"] == []
    last = m.parse_config(text("cluster-two-nodes.conf"))
    assert m.render_config(m.replace_cluster(last, "lab", None)) == text("after-remove-last-cluster.conf") == ""


def test_hand_written_file_after_add_node():
    clusters = m.parse_config(text("hand-written.conf"))
    todo = m.plan(clusters[0], "hand", [node("n0", "192.168.1.1", 0), node("n2", "192.168.1.3", 2)])
    assert m.render_config(m.replace_cluster(clusters, "hand", todo["cluster"])) == text(
        "hand-written-after-add-node.conf")


# --- validation ----------------------------------------------------------

@pytest.mark.parametrize("name", ["lab", "abcdefghijklmnop", "Havirt2"])
def test_good_cluster_names(name):
    assert m.cluster_name_problem(name) is None


@pytest.mark.parametrize("name, capture_name", [
    ("abcdefghijklmnopq", "add-cluster-17-chars"),
    ("my-cluster", "add-cluster-dash"),
    ("my_cluster", None),
    ("", None),
    ("caf\u00e9", None),
    (None, None),
])
def test_bad_cluster_names(name, capture_name):
    assert "1 to 16 characters, letters and digits only" in m.cluster_name_problem(name)
    if capture_name:  # o2cb refuses it too
        args, out, err, rc = capture(capture_name)
        assert args == ["add-cluster", name] and rc == 1 and "Cluster name is invalid" in err


def test_good_nodes():
    assert m.node_problems(TWO_NODES + [node("servvirt2.example.org", "10.210.3.12", 254, 1)]) == []
    assert m.node_problems([]) == []


@pytest.mark.parametrize("bad, message", [
    (node("servdb", "10.210.3.20", 5), "name servdb is already used by nodes[0]"),
    (node("other", "10.210.3.20", 1), "number 1 is already used by nodes[1]"),
    (node("other", "10.210.3.11", 2), "ip:port 10.210.3.11:7777 is already used by nodes[1]"),
    (node("other", "10.210.3.300", 2), "not an IPv4 address"),
    (node("other", "fd00::1", 2), "not an IPv4 address"),
    (node("other", "10.210.3.20", 255), "outside 0-254"),
    (node("other", "10.210.3.20", -1), "outside 0-254"),
    (node("other", "10.210.3.20", 2, 99999), "outside 1-65535"),
    (node("other", "10.210.3.20", 2, 0), "outside 1-65535"),
    (node("bad name", "10.210.3.20", 2), "host name"),
    (node("a" * 65, "10.210.3.20", 2), "at most 64"),
    (node("", "10.210.3.20", 2), "host name"),
])
def test_bad_nodes(bad, message):
    problems = m.node_problems(TWO_NODES + [bad])
    assert len(problems) == 1 and message in problems[0] and problems[0].startswith("nodes[2]")


def test_same_ip_on_another_port_is_fine():
    assert m.node_problems(TWO_NODES + [node("other", "10.210.3.11", 2, 7778)]) == []


@pytest.mark.parametrize("name, message", [
    ("add-node-duplicate-name", "Node 'servdb' already exists"),
    ("add-node-duplicate-number", "Choose another node number as '1' is in use"),
    ("add-node-bad-ip", "Bad IP Address '10.210.3.300'"),
    ("add-node-ipv6", "Bad IP Address 'fd00::1'"),
    ("add-node-number-255", "Nodenum should be >=0 and < 255 but is 255"),
    ("add-node-unknown-cluster", "Unknown cluster 'nosuch'"),
    ("remove-node-unknown", "Unknown node 'nosuch'"),
    ("remove-cluster-unknown", "Unknown cluster 'nosuch'"),
    ("heartbeat-mode-bad", "usage: heartbeat-mode <clustername> {global|local}"),
])
def test_what_o2cb_itself_refuses_exits_one(name, message):
    args, out, err, rc = capture(name)
    assert rc == 1 and message in err and out == ""


@pytest.mark.parametrize("name", ["add-node-duplicate-ip-port", "add-node-port-99999"])
def test_what_o2cb_lets_through_and_the_module_refuses(name):
    args, out, err, rc = capture(name)
    assert (out, err, rc) == ("", "", 0)
    wanted = node(args[2], args[args.index("--ip") + 1], int(args[args.index("--number") + 1]),
                  int(args[args.index("--port") + 1]))
    existing = [node("servvirt1", "10.210.3.11", 1)]
    assert m.node_problems(existing + [wanted])


def test_o2cb_error_quirks():
    # "already exists" is printed with exit code 0.
    assert capture("add-cluster-exists")[1:] == ("", "o2cb: Cluster 'lab' already exists\n", 0)
    # A missing directory gives an unhelpful code.
    assert "Unknown code ____ 254 while storing" in capture("add-cluster-no-directory")[2]
    # There is no -c: only --config-file.
    assert "invalid option -- 'c'" in capture("short-option-c")[2]
    assert capture("version")[2:] == ("o2cb 1.8.7\n", 1)


@pytest.mark.parametrize("node_name, hostname, local", [
    ("servdb", "servdb", True),
    ("servdb", "servdb.example.org", True),
    ("SERVDB", "servdb", True),
    ("servdb", "servdb2", False),
    ("servdb2", "servdb", False),
    ("servdb.example.org", "servdb", False),
    ("", "servdb", False),
])
def test_node_is_local(node_name, hostname, local):
    assert m.node_is_local(node_name, hostname) is local


def test_replace_cluster_appends_a_new_cluster():
    clusters = m.parse_config(text("two-clusters.conf"))
    new = dict(name="gamma", heartbeat_mode="local", nodes=[], heartbeats=[])
    assert [c["name"] for c in m.replace_cluster(clusters, "gamma", new)] == ["alpha", "beta", "gamma"]
    assert m.replace_cluster([], "gamma", None) == []


def test_explain_unknown_codes():
    assert "not valid O2CB configuration" in m.explain_error(capture("list-clusters-unparsable-file")[2])
    assert m.explain_error(capture("add-cluster-no-directory")[2]) == (
        "code 254 is -ENOENT (No such file or directory)")
    assert m.explain_error(capture("add-node-duplicate-number")[2]) == ""
    assert m.explain_error("") == ""
