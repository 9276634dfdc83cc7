"""The test gate (R2): goods move to storage and get codes only after a complete rest with a
negative nucleic-acid result for a sample of the current rest period and no positive one.
A positive result quarantines the batch at once and alerts the district's regulators, who
decide: redisinfect (a new disinfection and a full new rest) or destroy."""

import pytest

from batches.models import Batch, Code, Notification, Sample, TestResult
from batches.tasks import sweep_due_rests

WEEK = 7 * 24 * 3600
DISINFECTION = {"agent": "过氧乙酸", "concentration": "0.5%", "method": "喷洒"}


def gate(flow, action="move-to-storage"):
    return flow.api("operator-1").post(f"/api/batches/{flow.number}/{action}/", {}, format="json")


def rest_passes(clock):
    clock.shift(WEEK)
    sweep_due_rests()


def test_no_result_keeps_the_goods_out_of_storage(flow, clock):
    flow.resting()
    flow.sample()
    rest_passes(clock)

    response = gate(flow)

    assert response.status_code == 409
    assert (response.json()["code"], response.json()["status"]) == ("no_negative_result", "rest_complete")
    assert response.json()["allowed"] == ["sample", "test_result", "move_to_storage"]
    assert flow.detail()["status"] == "rest_complete"


def test_an_invalid_result_counts_as_no_result(flow, clock):
    flow.resting()
    flow.sample()
    flow.result("invalid")
    rest_passes(clock)

    assert gate(flow).json()["code"] == "no_negative_result"

    # and a negative retest of the same sample (taken during the rest) opens the gate
    flow.result("negative", sample_no="S1", report_no="R-2")
    assert flow.post("operator-1", "move-to-storage")["status"] == "stored"


def test_a_negative_result_after_a_complete_rest_opens_the_gate(flow, clock):
    flow.resting()
    flow.sample()
    flow.result("negative")
    rest_passes(clock)

    assert flow.post("operator-1", "move-to-storage")["status"] == "stored"
    coded = flow.post("operator-1", "issue-codes")
    assert coded["status"] == "coded" and coded["codes"]["total"] == 5


@pytest.mark.parametrize("when", ["resting", "rest_complete"])
def test_a_positive_result_quarantines_at_once_and_alerts_the_regulators(
    flow, clock, mailoutbox, django_capture_on_commit_callbacks, when
):
    # given a batch with a negative and a second sample, still resting or with its rest complete
    flow.resting()
    flow.sample("S1")
    flow.sample("S2")
    flow.result("negative", sample_no="S1")
    if when == "rest_complete":
        rest_passes(clock)
    assert flow.detail()["status"] == when

    # when the second sample comes back positive
    with django_capture_on_commit_callbacks(execute=True):
        flow.result("positive", sample_no="S2", report_no="HZCDC-POS-1")

    # then the batch is quarantined at once, whatever the negative said
    detail = flow.detail("regulator")
    assert detail["status"] == "quarantined"
    assert detail["allowed_actions"] == ["redisinfect", "destroy", "recall"]
    assert gate(flow).json()["code"] == "invalid_transition"
    # and the regulator finds an alert in their notifications and in their mail
    alerts = flow.api("regulator").get("/api/notifications/").json()["results"]
    assert [(a["kind"], a["batch"]) for a in alerts] == [("positive_result", flow.number)]
    assert "HZCDC-POS-1" in alerts[0]["body"]
    assert len(mailoutbox) == 1
    # the district's regulator and the city-level one (regulator-2 of the other district: not)
    assert sorted(mailoutbox[0].to) == ["regulator-city@example.cn", "regulator@example.cn"]
    assert flow.number in mailoutbox[0].subject
    # while the crew gets no such alert, and the merchant is told the batch is quarantined
    # (docs/contract.md "Notices"), without the regulators' alert
    crew = flow.api("operator-1").get("/api/notifications/").json()["results"]
    assert {n["kind"] for n in crew} <= {"approved_into_warehouse", "rest_complete"}
    told = flow.api("merchant-a1").get("/api/notifications/").json()["results"]
    assert [n["kind"] for n in told] == ["quarantined", "approved"]
    assert told[0]["batch"] == flow.number and "S2" in told[0]["body"] and told[0]["serious"] is True


def test_the_alert_e_mail_is_sent_only_when_the_quarantine_commits(
    flow, mailoutbox, django_capture_on_commit_callbacks
):
    flow.resting()
    flow.sample()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        flow.result("positive")

    assert mailoutbox == []  # not inside the transaction
    assert len(callbacks) == 2  # the regulators' e-mail and the merchant's SMS (batches.notices)
    for callback in callbacks:
        callback()
    assert len(mailoutbox) == 1


def test_the_gate_is_re_checked_when_codes_are_issued(flow, clock):
    """R2 in the transaction of issue_codes: a positive result found for the current rest
    (recorded behind the API's back, as a concurrent writer could) stops the coding."""
    flow.resting()
    flow.sample()
    flow.result("negative")
    rest_passes(clock)
    flow.post("operator-1", "move-to-storage")
    sample = Sample.objects.get(batch__number=flow.number)
    TestResult.objects.create(
        sample=sample, result="positive", report_no="LATE-1", recorded_by=sample.taken_by, recorded_at=sample.taken_at
    )

    response = gate(flow, "issue-codes")

    assert response.status_code == 409
    assert response.json()["code"] == "positive_result"
    assert Code.objects.filter(batch__number=flow.number).count() == 0
    assert flow.detail()["status"] == "stored"


def test_redisinfection_needs_a_new_disinfection_a_full_rest_and_a_new_negative(flow, clock):
    # given a batch quarantined after a negative then a positive result in its first rest
    flow.resting()
    flow.sample("S1")
    flow.sample("S2")
    flow.result("negative", sample_no="S1")
    flow.result("positive", sample_no="S2")

    # when the regulator sends it back to pre-storage
    back = flow.post("regulator", "redisinfect", {"reason": "阳性样品，重新消毒"})

    # then it needs a new disinfection before it may rest again
    assert (back["status"], back["cycle"], back["rest_until"]) == ("pre_storage", 2, None)
    refused = flow.api("operator-1").post(f"/api/batches/{flow.number}/move-to-resting/", {}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "not_disinfected"
    flow.post("operator-1", "disinfect", DISINFECTION, expect=201)
    assert flow.post("operator-1", "move-to-resting")["status"] == "resting"

    # and after a full new rest, the first rest's negative does not open the gate
    flow.sample("S3")
    rest_passes(clock)
    assert flow.detail()["status"] == "rest_complete"
    assert gate(flow).json()["code"] == "no_negative_result"

    # only a negative for a sample of the new rest does
    flow.result("negative", sample_no="S3", report_no="R-3")
    assert flow.post("operator-1", "move-to-storage")["status"] == "stored"
    assert [d["cycle"] for d in flow.detail()["disinfections"]] == [1, 2]


def test_a_positive_for_a_sample_of_an_earlier_rest_does_not_quarantine_the_new_one(flow, clock):
    flow.resting()
    flow.sample("S1")
    flow.sample("S2")
    flow.result("positive", sample_no="S1")
    flow.post("regulator", "redisinfect", {"reason": "重新消毒"})
    flow.post("operator-1", "disinfect", DISINFECTION, expect=201)
    flow.post("operator-1", "move-to-resting")

    # a late report for S2, sampled in the first rest, arrives during the second rest
    flow.result("positive", sample_no="S2", report_no="R-LATE")

    assert flow.detail()["status"] == "resting"


def test_destroyed_goods_are_the_end_of_the_batch(flow):
    flow.resting()
    flow.sample()
    flow.result("positive")
    assert flow.api("regulator").post(f"/api/batches/{flow.number}/destroy/", {}, format="json").status_code == 400

    destroyed = flow.post("regulator", "destroy", {"reason": "阳性，监督销毁"})

    assert destroyed["status"] == "destroyed"
    for username in ("merchant-a1", "operator-1", "regulator"):
        assert flow.detail(username)["allowed_actions"] == []
    again = flow.api("regulator").post(f"/api/batches/{flow.number}/redisinfect/", {"reason": "x"}, format="json")
    assert again.status_code == 409 and again.json()["status"] == "destroyed"
    assert Batch.objects.get(number=flow.number).status == "destroyed"


@pytest.mark.parametrize("who", ["operator-1", "merchant-a1"])
def test_only_the_regulator_decides_on_quarantined_goods(flow, who):
    flow.resting()
    flow.sample()
    flow.result("positive")

    for action in ("redisinfect", "destroy"):
        response = flow.api(who).post(f"/api/batches/{flow.number}/{action}/", {"reason": "x"}, format="json")
        assert response.status_code == 403, action

    assert flow.detail()["status"] == "quarantined"


def test_results_name_a_sample_of_the_batch(flow):
    flow.resting()
    notices = Notification.objects.count()  # the approval's, told to the merchant and the operators

    response = flow.api("operator-1").post(
        f"/api/batches/{flow.number}/test-results/",
        {"sample_no": "NOPE", "result": "negative", "report_no": "R"},
        format="json",
    )

    assert response.status_code == 400 and "sample_no" in response.json()
    assert TestResult.objects.count() == 0
    assert Notification.objects.count() == notices
