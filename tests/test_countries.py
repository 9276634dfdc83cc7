"""The country of origin is an ISO 3166-1 alpha-2 code in the API, shown with its Chinese name and
picked by name on the declaration form; the free text of older declarations is mapped by a data
migration that leaves none unmapped (docs/contract.md, input rules)."""

import importlib
import re

import pytest
from django.apps import apps

from batches import countries
from batches.models import Batch
from tests.conftest import Flow, declaration
from tests.test_web_support import declaration_form, text_of

migration = importlib.import_module("batches.migrations.0012_origin_country_codes")


# --- the list --------------------------------------------------------------------------------


def test_the_list_is_all_of_iso_3166_1_with_a_chinese_and_an_english_name_each():
    codes = [row[0] for row in countries.COUNTRIES]
    assert len(codes) == len(set(codes)) == 249
    assert all(re.fullmatch(r"[A-Z]{2}", c) and re.fullmatch(r"[A-Z]{3}", a) for c, a, _zh, _en in countries.COUNTRIES)
    assert all(re.search(r"[\u4e00-\u9fff]", zh) and en.strip() for _c, _a, zh, en in countries.COUNTRIES)
    for code, zh, en in (
        ("IT", "意大利", "Italy"),
        ("CN", "中国", "China"),
        ("US", "美国", "United States"),
        ("GB", "英国", "United Kingdom"),
        ("KR", "韩国", "South Korea"),
        ("HK", "中国香港", "Hong Kong"),
        ("TW", "中国台湾", "Taiwan"),
        ("KH", "柬埔寨", "Cambodia"),
    ):
        assert (countries.country_name(code, chinese=True), countries.country_name(code, chinese=False)) == (zh, en)
    assert countries.UNKNOWN not in countries.CODES
    # every other name reads as one country only, and never as another country's own name
    own = {countries._key(name): code for code, a3, zh, en in countries.COUNTRIES for name in (code, a3, zh, en)}
    for name, code in countries.ALIASES.items():
        assert own.get(countries._key(name), code) == code, name


@pytest.mark.parametrize(
    "text, code",
    [
        ("IT", "IT"),
        ("it", "IT"),
        ("ITA", "IT"),
        ("意大利", "IT"),
        ("意大利共和国", "IT"),
        ("Italy", "IT"),
        (" ITALY ", "IT"),
        ("Ｉｔａｌｙ", "IT"),  # full-width
        ("法国", "FR"),
        ("France", "FR"),
        ("美利坚合众国", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("南韩", "KR"),
        ("Korea, Republic of", "KR"),
        ("英格兰", "GB"),
        ("Holland", "NL"),
        ("Turkey", "TR"),
        ("Côte d'Ivoire", "CI"),
        ("香港", "HK"),
    ],
)
def test_codes_names_and_other_names_are_read(text, code):
    assert countries.code_for(text) == code


@pytest.mark.parametrize("text", ["火星", "Atlantis", "ZZ", "XX", "", "  ", "意大", None])
def test_what_names_no_country_is_none_and_the_migration_makes_it_unknown(text):
    assert countries.code_for(text) is None
    assert countries.code_or_unknown(text) == countries.UNKNOWN


# --- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["XX", "ZZ", "ITA", "意大利", "Italy", "I", "", 39, None, ["IT"]])
def test_the_api_takes_only_an_alpha_2_code(api, value):
    response = api("merchant-a1").post("/api/batches/", declaration(origin_country=value), format="json")

    assert response.status_code == 400 and "origin_country" in response.json(), response.content
    assert not Batch.objects.exists()


def test_a_code_is_stored_and_answered_as_a_code_and_an_edit_checks_it_too(api):
    created = api("merchant-a1").post("/api/batches/", declaration(origin_country="jp"), format="json")
    assert created.status_code == 201 and created.json()["origin_country"] == "JP"
    number = created.json()["number"]
    edit = lambda body: api("merchant-a1").patch(f"/api/batches/{number}/", body, format="json")  # noqa: E731
    assert edit({"origin_country": "火星"}).status_code == 400
    assert edit({"origin_country": "NZ"}).status_code == 200
    assert api("merchant-a1").get(f"/api/batches/{number}/").json()["origin_country"] == "NZ"


# --- the pages -------------------------------------------------------------------------------


def test_the_form_offers_every_country_by_name_and_ports_with_free_text(web):
    page = web("merchant-a1").get("/batches/new/").content.decode()
    countries_list = page[page.index('<datalist id="countries">') : page.index("</datalist>")]
    assert countries_list.count("<option") == 249
    assert '<option value="意大利">IT</option>' in countries_list
    assert countries_list.index("意大利") < countries_list.index("阿富汗")  # the frequent ones first
    assert 'list="countries"' in page and 'list="ports"' in page and "上海浦东国际机场" in page


@pytest.mark.parametrize("typed, code", [("意大利", "IT"), ("Italy", "IT"), ("fr", "FR"), ("日本", "JP")])
def test_the_form_saves_the_code_of_the_country_picked_or_typed(web, typed, code):
    answer = web("merchant-a1").post(
        "/batches/new/", {**declaration_form(origin_country=typed, port_of_entry="舟山港"), "then": "draft"}
    )

    assert answer.status_code == 302
    batch = Batch.objects.get()
    assert (batch.origin_country, batch.port_of_entry) == (code, "舟山港")  # a port not listed is kept as typed


def test_a_name_the_list_does_not_know_is_refused_on_the_form(web):
    answer = web("merchant-a1").post("/batches/new/", {**declaration_form(origin_country="火星"), "then": "draft"})

    assert answer.status_code == 400 and "请从列表中选择国家" in text_of(answer)
    assert not Batch.objects.exists()


def test_pages_show_the_country_by_its_name_and_the_queue_finds_it_by_name(api, web):
    flow = Flow(api)
    flow.submitted()

    assert "意大利（IT）" in text_of(web("reviewer-a").get(f"/batches/{flow.number}/"))
    queue = web("reviewer-a").get("/review/?q=意大利")
    assert [b.number for b in queue.context["batches"]] == [flow.number] and "意大利（IT）" in text_of(queue)
    assert list(web("reviewer-a").get("/review/?q=法国").context["batches"]) == []
    english = web("reviewer-a")
    english.cookies["django_language"] = "en"
    assert "Italy (IT)" in text_of(english.get(f"/batches/{flow.number}/"))


# --- the data migration ---------------------------------------------------------------------


def test_the_migration_maps_every_free_text_value_and_going_back_restores_it(api):
    written = ["意大利", "Italy", "fr", "JP", "美利坚合众国", "South Korea", "火星", "", "  新西兰 "]
    numbers = []
    for text in written:
        flow = Flow(api)
        flow.declare()
        Batch.objects.filter(number=flow.number).update(origin_country=text)
        numbers.append(flow.number)

    migration.map_origin_countries(apps, None)

    after = {b.number: (b.origin_country, b.origin_country_declared) for b in Batch.objects.all()}
    assert [after[n] for n in numbers] == [
        ("IT", "意大利"),
        ("IT", "Italy"),
        ("FR", "fr"),
        ("JP", ""),  # already a code: untouched
        ("US", "美利坚合众国"),
        ("KR", "South Korea"),
        ("ZZ", "火星"),
        ("ZZ", ""),
        ("NZ", "  新西兰 "),
    ]
    assert all(code in countries.CODES or code == countries.UNKNOWN for code, _text in after.values())  # none unmapped
    migration.map_origin_countries(apps, None)  # a second run changes nothing
    assert {b.number: (b.origin_country, b.origin_country_declared) for b in Batch.objects.all()} == after

    migration.restore_origin_countries(apps, None)
    assert [Batch.objects.get(number=n).origin_country for n in numbers] == [
        "意大利",
        "Italy",
        "fr",
        "JP",
        "美利坚合众国",
        "South Korea",
        "火星",
        "ZZ",  # empty text was never kept: it stays unknown
        "  新西兰 ",
    ]


def test_a_declaration_whose_country_was_not_understood_says_so_and_asks_for_it(api, web):
    flow = Flow(api)
    flow.declare()
    Batch.objects.filter(number=flow.number).update(origin_country="火星")
    migration.map_origin_countries(apps, None)

    assert "未知（申报为“火星”）" in text_of(web("merchant-a1").get(f"/batches/{flow.number}/"))
    edit = web("merchant-a1").get(f"/batches/{flow.number}/edit/")
    assert 'data-testid="country-as-declared"' in edit.content.decode() and "火星" in text_of(edit)
    assert edit.context["form"].initial["origin_country"] == ""  # the merchant picks it anew
