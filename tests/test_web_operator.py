"""The warehouse crew's pages: one scan box for batch numbers, tokens and QR URLs, the batch
card with the next actions, every step through the services, the rest gate in words, the zone
board and release by scanning."""

from batches.models import Batch, Code, Status
from batches.tasks import sweep_due_rests
from tests.test_web_support import formset_data, messages_of, text_of


def act(web, number, action, data=None, follow=True):
    return web("operator-1").post(f"/batches/{number}/do/{action}/", data or {}, follow=follow)


def test_the_scan_box_resolves_batch_numbers_tokens_and_qr_urls(web, flow, clock):
    flow.coded(clock)
    code = Code.objects.filter(batch__number=flow.number).order_by("item_no").first()
    scanner = web("operator-1")
    for value in (
        flow.number,
        flow.number.lower(),
        code.token,
        f"HTTP://LOCALHOST:8000/c/{code.token}",
        f"http://localhost:8000/01/09506000134352/10/{flow.number}/21/{code.serial}",
    ):
        page = scanner.get("/scan/", {"q": value})
        assert page.status_code == 200 and page.context["batch"].number == flow.number, value
        assert "autofocus" in page.content.decode() and "data-scan-box" in page.content.decode()
    unknown = scanner.get("/scan/", {"q": "NOPE-123"})
    assert "本仓库内未找到“NOPE-123”。" in messages_of(unknown)
    # Another warehouse's crew cannot find it
    assert "本仓库内未找到" in messages_of(web("operator-2").get("/scan/", {"q": flow.number}))[0]


def test_the_operator_walks_a_batch_through_every_step(web, flow, clock):
    flow.approved()
    number = flow.number
    card = web("operator-1").get("/scan/", {"q": number})
    assert "入仓核验" in text_of(card)
    lines = list(Batch.objects.get(number=number).lines.all())
    rows = [
        {"line": line.pk, "received_quantity": line.quantity, "type_matches": True, "spec_matches": True}
        for line in lines
    ]
    answer = act(web, number, "arrive", formset_data("arrival", rows))
    assert "与申报相符" in messages_of(answer)[0], (answer.status_code, text_of(answer)[:3000])
    assert Batch.objects.get(number=number).status == Status.PRE_STORAGE
    # Moving to rest before disinfection is refused in words
    refused = act(web, number, "move-to-resting", follow=False)
    assert refused.status_code == 409 and "请先登记消毒，再将批次移入静置区。" in messages_of(refused)
    act(
        web,
        number,
        "disinfect",
        {"disinfect-agent": "含氯消毒剂", "disinfect-concentration": "500 mg/L", "disinfect-method": "喷洒"},
    )
    answer = act(web, number, "move-to-resting")
    assert Batch.objects.get(number=number).status == Status.RESTING
    act(web, number, "sample", {"sample-sample_no": "S1", "sample-lab": "杭州市疾控中心"})
    act(
        web,
        number,
        "test-result",
        {"test_result-sample_no": "S1", "test_result-result": "negative", "test_result-report_no": "R-1"},
    )
    # R2 in words: the rest is not over, with how long is left
    clock.shift(2 * 86400 + 3600)
    refused = act(web, number, "move-to-storage", follow=False)
    assert refused.status_code == 409
    assert any(m.startswith("静置期未满，剩余 4 天 23 小时") for m in messages_of(refused)), messages_of(refused)
    assert Batch.objects.get(number=number).status == Status.RESTING
    # The board shows the countdown
    board = text_of(web("operator-1").get("/warehouse/board/"))
    assert number in board and "剩余 4 天 23 小时" in board
    clock.shift(5 * 86400)
    sweep_due_rests()
    act(web, number, "move-to-storage")
    answer = act(web, number, "issue-codes")
    assert Batch.objects.get(number=number).status == Status.CODED
    assert f"批次 {number} 已赋码。" in messages_of(answer)
    assert f"/api/batches/{number}/labels.pdf" in answer.content.decode()
    answer = act(web, number, "release")
    assert Batch.objects.get(number=number).status == Status.RELEASED


def test_a_mismatch_moves_to_discrepancy_and_the_form_keeps_input_on_bad_quantities(web, flow):
    flow.approved()
    lines = list(Batch.objects.get(number=flow.number).lines.all())
    rows = [{"line": line.pk, "received_quantity": -1, "type_matches": True, "spec_matches": True} for line in lines]
    bad = act(web, flow.number, "arrive", formset_data("arrival", rows), follow=False)
    assert bad.status_code == 400 and 'value="-1"' in bad.content.decode()
    rows = [
        {"line": line.pk, "received_quantity": line.quantity - 1, "type_matches": True, "spec_matches": False}
        for line in lines
    ]
    answer = act(web, flow.number, "arrive", formset_data("arrival", rows))
    assert Batch.objects.get(number=flow.number).status == Status.DISCREPANCY
    assert "与申报不符" in messages_of(answer)[0]
    answer = act(web, flow.number, "return", {"return-reason": "数量不符"})
    assert Batch.objects.get(number=flow.number).status == Status.RETURNED


def test_a_positive_result_quarantines_and_says_so(web, flow):
    flow.resting()
    flow.sample()
    answer = act(
        web,
        flow.number,
        "test-result",
        {"test_result-sample_no": "S1", "test_result-result": "positive", "test_result-report_no": "R-9"},
    )
    assert Batch.objects.get(number=flow.number).status == Status.QUARANTINED
    assert "已隔离" in messages_of(answer)[0]
    assert flow.number in text_of(web("operator-1").get("/warehouse/board/"))


def test_release_by_scanning_is_all_or_nothing_with_a_problem_per_code(web, flow, clock):
    flow.coded(clock)
    codes = list(Code.objects.filter(batch__number=flow.number).order_by("item_no"))
    page = web("operator-1").get(f"/warehouse/release/{flow.number}/")
    assert page.status_code == 200 and "data-scan-count" in page.content.decode()
    scans = [codes[0].token, f"http://localhost:8000/c/{codes[0].token}", "AAAAAAAAAAAAAAAAAAAAAAAA"]
    refused = web("operator-1").post(f"/warehouse/release/{flow.number}/", {"codes": "\n".join(scans)})
    assert refused.status_code == 400
    problems = refused.context["problems"]
    assert set(problems) == set(scans[1:]) and "重复扫描" in problems[scans[1]] and "未知" in problems[scans[2]]
    assert not Code.objects.filter(batch__number=flow.number, status="released").exists()
    answer = web("operator-1").post(
        f"/warehouse/release/{flow.number}/", {"codes": "\n".join(c.token for c in codes[:2])}, follow=True
    )
    assert "2 个追溯码已出仓" in messages_of(answer)[0]
    assert Code.objects.filter(batch__number=flow.number, status="released").count() == 2
    # Already released: reported per code by the release service, nothing changes
    again = web("operator-1").post(f"/warehouse/release/{flow.number}/", {"codes": codes[0].token})
    assert again.status_code == 400 and codes[0].token in again.context["problems"]
