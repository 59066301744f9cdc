"""havirt.cluster.domain_state against a stand-in for libvirt's connection
(the lab runs the real one: test_migration.py's killed moves). The
sequences are the ones captured in the lab
(module_utils/fixtures/domain_state): a destination that refuses job
statistics, a source whose job ends."""

from __future__ import annotations

import pytest

libvirt = pytest.importorskip("libvirt")

from ansible_collections.havirt.cluster.plugins.modules import domain_state  # noqa: E402
from libvirt_fake import Error  # noqa: E402


class Domain:
    """One sample per read (state, then the job); the last one stays."""

    def __init__(self, samples):
        self.samples = list(samples)
        self.now = None

    def state(self):
        self.now = self.samples[0] if len(self.samples) == 1 else self.samples.pop(0)
        return list(self.now[:2])

    def jobStats(self):
        job = self.now[2]
        if isinstance(job, Exception):
            raise job
        return {"type": job, "operation": self.now[3]} if job else {"type": 0}


class Connection:
    def __init__(self, domain):
        self.domain = domain

    def lookupByName(self, name):
        if self.domain is None:
            raise Error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found")
        return self.domain


@pytest.fixture
def with_domain(monkeypatch):
    def install(domain):
        monkeypatch.setattr(domain_state.libvirt, "open", lambda uri: Connection(domain))
        monkeypatch.setattr(domain_state, "POLL_S", 0)
    return install


def run(run_module, **args):
    return run_module(domain_state.main, dict(name="passata", **args), run_command=None, binary=None)


def test_a_domain_this_host_does_not_have_is_absent(run_module, with_domain):
    with_domain(None)
    how, result = run(run_module)
    assert how == "exit" and result["state"] == "absent" and not result["here"] and not result["changed"]


def test_libvirt_9s_destination_refuses_job_statistics_and_its_pause_tells(run_module, with_domain):
    unsupported = Error(libvirt.VIR_ERR_OPERATION_UNSUPPORTED, "migration statistics are available only on the source host")
    with_domain(Domain([(3, 2, unsupported, None)]))
    how, result = run(run_module)
    assert how == "exit"
    assert (result["here"], result["migrating"], result["reason"]) == (False, True, "migration")


def test_the_wait_ends_when_the_sources_job_ends(run_module, with_domain):
    with_domain(Domain([(1, 2, 2, 5), (1, 2, 2, 5), (3, 2, 2, 5), (5, 4, 0, None)]))
    how, result = run(run_module, wait_for_migration=5)
    assert how == "exit"
    assert (result["state"], result["migrating"], result["here"]) == ("shutoff", False, False)


def test_without_a_wait_the_answer_is_at_once(run_module, with_domain):
    with_domain(Domain([(1, 2, 2, 5), (5, 4, 0, None)]))
    how, result = run(run_module)
    assert how == "exit" and result["migrating"] and result["job"] == "migration_out"


def test_a_migration_that_outlasts_the_wait_is_returned_as_such(run_module, with_domain):
    with_domain(Domain([(1, 2, 2, 5)]))
    how, result = run(run_module, wait_for_migration=1)
    assert how == "exit" and result["migrating"] and result["waited_s"] >= 1


def test_a_domain_that_stops_between_two_reads_is_read_again(run_module, with_domain):
    # CI of 6459f22: the source of the killed move's migration was torn
    # down between virDomainGetState (paused) and virDomainGetJobStats.
    gone = Error(libvirt.VIR_ERR_OPERATION_INVALID, "Requested operation is not valid: domain is not running")
    with_domain(Domain([(3, 2, gone, None), (5, 2, 0, None)]))
    how, result = run(run_module, wait_for_migration=5)
    assert how == "exit"
    assert (result["state"], result["migrating"], result["here"]) == ("shutoff", False, False)


def test_a_domain_that_keeps_saying_it_is_not_running_is_a_failure(run_module, with_domain):
    gone = Error(libvirt.VIR_ERR_OPERATION_INVALID, "Requested operation is not valid: domain is not running")
    with_domain(Domain([(1, 1, gone, None)]))
    how, result = run(run_module)
    assert how == "fail" and "domain is not running" in result["msg"]


def test_another_libvirt_error_is_a_failure_that_says_so(run_module, with_domain):
    with_domain(Domain([(1, 1, Error(libvirt.VIR_ERR_INTERNAL_ERROR, "cannot acquire state change lock"), None)]))
    how, result = run(run_module)
    assert how == "fail" and "cannot acquire state change lock" in result["msg"]


def test_a_negative_wait_is_refused(run_module, with_domain):
    with_domain(None)
    how, result = run(run_module, wait_for_migration=-1)
    assert how == "fail" and "wait_for_migration" in result["msg"]
