"""The merchant's pages: declare (draft or submit at once), field errors in Chinese with the
input kept, edit a draft, revise a rejected batch, the timeline and the rest countdown."""

from batches.models import Batch, Status
from tests.test_web_support import LINE, declaration_form, formset_data, messages_of, text_of


def test_declare_with_two_lines_saves_a_draft_through_the_service(web):
    second = {**LINE, "product_name": "真丝围巾", "specification": "180×70 cm", "quantity": 2, "gtin": ""}
    answer = web("merchant-a1").post("/batches/new/", {**declaration_form([LINE, second]), "then": "draft"})
    batch = Batch.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/batches/{batch.number}/"
    assert batch.status == Status.DRAFT and batch.market.code == "MKT-A" and batch.merchant.stall == "A-101"
    assert [(line.product_name, line.quantity, line.gtin) for line in batch.lines.all()] == [
        ("羊毛大衣", 3, "09506000134352"),
        ("真丝围巾", 2, ""),
    ]
    assert batch.events.get().action == "declare"  # the service wrote the event (R6)
    page = web("merchant-a1").get(answer["Location"])
    assert f"批次 {batch.number} 已保存为草稿。" in messages_of(page)
    assert "草稿" in text_of(page) and "提交审核" in text_of(page)


def test_save_and_submit_submits_through_the_submit_service(web):
    answer = web("merchant-a1").post("/batches/new/", {**declaration_form(), "then": "submit"}, follow=True)
    batch = Batch.objects.get()
    assert batch.status == Status.SUBMITTED
    assert [e.action for e in batch.events.all()] == ["declare", "submit"]
    assert f"批次 {batch.number} 已保存并提交审核。" in messages_of(answer)


def test_bad_input_shows_chinese_field_errors_and_keeps_what_was_typed(web):
    bad_line = {**LINE, "gtin": "09506000134353", "quantity": 0}
    answer = web("merchant-a1").post(
        "/batches/new/", {**declaration_form([bad_line], origin_country=""), "then": "submit"}
    )
    assert answer.status_code == 400 and Batch.objects.count() == 0
    text = text_of(answer)
    assert "请更正下面标出的字段" in text
    assert "该字段是必填项" in text  # origin country missing
    assert "确保该值大于或等于1" in text  # quantity 0
    html = answer.content.decode()
    assert 'value="310120261129000009"' in html and 'value="羊毛大衣"' in html  # input kept
    # The GTIN rule is the API's (check digit): fix the quantity and the GTIN error remains
    answer = web("merchant-a1").post(
        "/batches/new/", {**declaration_form([{**LINE, "gtin": "09506000134353"}]), "then": "draft"}
    )
    assert answer.status_code == 400 and "GTIN 须为 8、12、13 或 14 位数字且校验位正确" in text_of(answer)
    assert Batch.objects.count() == 0


def test_a_declaration_without_lines_is_refused(web):
    answer = web("merchant-a1").post("/batches/new/", {**declaration_form([]), "then": "draft"})
    assert answer.status_code == 400 and Batch.objects.count() == 0
    assert "请至少申报一条货物明细" in text_of(answer)


def test_edit_a_draft_replaces_its_lines_and_a_submitted_batch_cannot_be_edited(web, flow):
    flow.declare()
    number = flow.number
    page = web("merchant-a1").get(f"/batches/{number}/edit/")
    assert page.status_code == 200 and 'value="羊毛大衣"' in page.content.decode()
    changed = {**LINE, "product_name": "羊绒大衣", "quantity": 5}
    answer = web("merchant-a1").post(
        f"/batches/{number}/edit/", {**declaration_form([changed], origin_country="法国"), "then": "draft"}
    )
    assert answer.status_code == 302
    batch = Batch.objects.get(number=number)
    assert batch.origin_country == "FR" and [line.product_name for line in batch.lines.all()] == ["羊绒大衣"]
    flow.post("merchant-a1", "submit")
    # Submitted: the edit page is refused by the state (409, the service says why), nothing changes
    answer = web("merchant-a1").post(f"/batches/{number}/edit/", {**declaration_form(), "then": "draft"})
    assert answer.status_code == 409 and "不能执行此操作" in text_of(answer)
    assert Batch.objects.get(number=number).origin_country == "FR"


def test_submit_button_and_revise_after_rejection(web, flow):
    flow.declare()
    answer = web("merchant-a1").post(f"/batches/{flow.number}/do/submit/", follow=True)
    assert f"批次 {flow.number} 已提交审核。" in messages_of(answer)
    flow.post("reviewer-a", "reject", {"reason": "报关单号与货物不符"})
    page = web("merchant-a1").get(f"/batches/{flow.number}/")
    assert "驳回原因" in text_of(page) and "报关单号与货物不符" in text_of(page)
    answer = web("merchant-a1").post(f"/batches/{flow.number}/do/revise/", follow=True)
    assert Batch.objects.get(number=flow.number).status == Status.DRAFT
    assert "已退回草稿" in messages_of(answer)[0]
    # Submitting twice: the second answer says why in words (409), nothing changes
    web("merchant-a1").post(f"/batches/{flow.number}/do/submit/")
    again = web("merchant-a1").post(f"/batches/{flow.number}/do/submit/")
    assert again.status_code == 409 and "批次当前为「待审核」，不能执行此操作。" in messages_of(again)


def test_my_batches_lists_only_own_batches_with_status_timeline_and_countdown(web, flow):
    flow.resting()
    mine = web("merchant-a1").get("/batches/")
    assert flow.number in text_of(mine) and "静置中" in text_of(mine)
    assert flow.number not in text_of(web("merchant-a2").get("/batches/"))
    detail = web("merchant-a1").get(f"/batches/{flow.number}/")
    text = text_of(detail)
    for step in ("已申报", "已提交审核", "已批准", "入仓核验", "已消毒", "进入静置区"):
        assert step in text, step
    assert "剩余 6 天 23 小时" in text  # the countdown to rest_until
    assert "data-countdown" in detail.content.decode()
    home = text_of(web("merchant-a1").get("/"))
    assert "仓内静置中" in home and flow.number in home


# --- edit of a batch that is no longer a draft ------------------------------------------------


def test_the_edit_page_of_a_submitted_batch_goes_back_to_the_batch_and_a_post_is_409(web, flow):
    flow.submitted()
    page = web("merchant-a1").get(f"/batches/{flow.number}/edit/")
    assert page.status_code == 302 and page["Location"] == f"/batches/{flow.number}/"
    followed = web("merchant-a1").get(f"/batches/{flow.number}/edit/", follow=True)
    assert "不能执行此操作" in " ".join(messages_of(followed))
    form = {
        "customs_declaration_no": "310120261129000009",
        "origin_country": "法国",
        "port_of_entry": "上海浦东",
        **formset_data(
            "lines",
            [{"product_name": "羊毛大衣", "category": "服装", "specification": "M", "quantity": 3, "unit": "件"}],
        ),
        "then": "draft",
    }
    answer = web("merchant-a1").post(f"/batches/{flow.number}/edit/", form)
    assert answer.status_code == 409 and Batch.objects.get(number=flow.number).origin_country != "FR"
