"""EPCIS 2.0: a batch's events as a GS1 EPCISDocument, one ObjectEvent per step,
validated against the official GS1 EPCIS 2.0 JSON Schema — with its references resolved
locally and its `uri` / `date-time` formats checked, not only by field presence."""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from batches.models import Event

DATA = Path(__file__).parent / "data" / "epcis"
VOC = "https://localhost:8000/voc/"  # PUBLIC_BASE_URL's host (settings default)


def _no_network(uri):
    raise NoSuchResource(ref=uri)  # every reference must resolve inside the schema itself


@pytest.fixture(scope="module")
def schema():
    return json.loads((DATA / "EPCIS-JSON-Schema.json").read_text())


@pytest.fixture(scope="module")
def registry(schema):
    return Registry(retrieve=_no_network).with_resource(schema["$id"], Resource.from_contents(schema))


@pytest.fixture(scope="module")
def validator(schema, registry):
    Draft7Validator.check_schema(schema)
    checker = Draft7Validator.FORMAT_CHECKER
    # Without these two checkers `format` would be silently ignored (see requirements-dev.txt).
    assert {"uri", "date-time"} <= set(checker.checkers)
    return Draft7Validator(schema, registry=registry, format_checker=checker)


def errors(validator, document):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_every_reference_in_the_schema_resolves_locally(schema, registry):
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    resolver = registry.resolver(base_uri=schema["$id"])
    assert len(refs) > 50
    for ref in refs:
        assert resolver.lookup(ref).contents is not None, ref


@pytest.mark.parametrize(
    "name", ["Example_9.6.1-ObjectEvent.jsonld", "Example_9.6.1-ObjectEventWithDigitalLink.jsonld"]
)
def test_the_standards_own_examples_validate(validator, name):
    assert errors(validator, json.loads((DATA / name).read_text())) == []


def epcis(api, number, username="regulator"):
    response = api(username).get(f"/api/trace/batches/{number}/epcis/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/ld+json")
    return response.json()


def test_a_sold_batch_is_a_valid_epcis_document_with_one_event_per_step(flow, clock, sell, api, validator):
    codes = flow.released(clock)
    sale = sell([codes[0]["token"], codes[3]["token"]])
    api("merchant-a1").post(f"/api/sales/{sale['id']}/void/", {"reason": "退货"}, format="json")
    sell([codes[1]["token"]])

    document = epcis(api, flow.number)

    assert errors(validator, document) == []
    assert document["type"] == "EPCISDocument" and document["schemaVersion"] == "2.0"
    assert document["@context"][0] == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    events = document["epcisBody"]["eventList"]
    recorded = list(Event.objects.filter(batch__number=flow.number).order_by("id"))
    assert [e["wh:step"] for e in events] == [e.action for e in recorded]
    assert len(events) == len(recorded) == 15
    for event in events:
        assert event["type"] == "ObjectEvent" and event["eventTimeZoneOffset"] == "+08:00"
        assert event["eventTime"].endswith("+08:00")
        assert {"action", "bizStep", "readPoint", "bizLocation"} <= set(event)
        assert ("epcList" in event) != ("quantityList" in event)
    step = {e["wh:step"]: e for e in events}

    # Before codes exist: quantities per declared line, the GTIN line as a Digital Link class with lot.
    assert step["declare"]["action"] == "ADD"
    assert step["declare"]["quantityList"][0] == {
        "epcClass": f"http://localhost:8000/01/09506000134352/10/{flow.number}",
        "quantity": 3,
    }
    assert step["arrive"]["bizStep"] == "receiving" and step["arrive"]["disposition"] == "conformant"
    # Where the CBV has no word, this system's vocabulary.
    assert step["disinfect"]["bizStep"] == VOC + "bizstep/disinfecting"
    assert step["disinfect"]["readPoint"] == {"id": "http://localhost:8000/id/warehouse/WH-1/zone/pre_storage"}
    assert step["disinfect"]["bizLocation"] == {"id": "http://localhost:8000/id/warehouse/WH-1"}
    assert step["move_to_resting"]["bizStep"] == "holding"
    assert step["sample"]["bizStep"] == "sampling"
    assert (step["test_result"]["bizStep"], step["test_result"]["disposition"]) == ("inspecting", "conformant")
    assert step["move_to_storage"]["bizStep"] == "storing"
    # Codes: every one commissioned, by the URL its label encodes (Digital Link or /c/).
    assert (step["issue_codes"]["action"], step["issue_codes"]["bizStep"]) == ("ADD", "commissioning")
    assert step["issue_codes"]["epcList"] == [code["url"] for code in codes]
    assert step["release"]["epcList"] == [code["url"] for code in codes]
    sales = [e for e in events if e["wh:step"] == "sale"]
    assert [s["epcList"] for s in sales] == [[codes[0]["url"], codes[3]["url"]], [codes[1]["url"]]]
    assert (sales[0]["bizStep"], sales[0]["disposition"]) == ("retail_selling", "retail_sold")
    assert step["sale"]["bizLocation"] == {"id": "http://localhost:8000/id/market/MKT-A"}
    assert step["sale_void"]["disposition"] == "sellable_accessible"
    # No buyer in a document meant to be shared along the chain.
    assert "13912345678" not in json.dumps(document) and "王小姐" not in json.dumps(document)


def test_quarantine_destruction_and_recall_speak_the_cbv_or_our_vocabulary(flow, new_flow, clock, api, validator):
    flow.resting()
    flow.sample()
    flow.result("positive")
    flow.post("regulator", "destroy", {"reason": "阳性，销毁"})
    recalled = new_flow()
    recalled.released(clock)
    recalled.post("regulator", "recall", {"reason": "召回"})

    destroyed = epcis(api, flow.number)
    recall = epcis(api, recalled.number)

    assert errors(validator, destroyed) == [] and errors(validator, recall) == []
    step = {e["wh:step"]: e for e in destroyed["epcisBody"]["eventList"]}
    assert step["test_result"]["disposition"] == VOC + "disp/quarantined"
    assert step["test_result"]["wh:details"]["result"] == "positive"
    assert (step["destroy"]["action"], step["destroy"]["bizStep"], step["destroy"]["disposition"]) == (
        "DELETE",
        "destroying",
        "destroyed",
    )
    last = recall["epcisBody"]["eventList"][-1]
    assert (last["wh:step"], last["bizStep"], last["disposition"]) == ("recall", VOC + "bizstep/recalling", "recalled")


def test_the_validator_is_not_satisfied_by_field_presence_alone(flow, clock, api, validator):
    flow.released(clock)
    good = epcis(api, flow.number)

    def broken(change):
        document = copy.deepcopy(good)
        change(document["epcisBody"]["eventList"][0])
        return errors(validator, document)

    assert broken(lambda e: e.update(bizStep="disinfecting"))  # neither a CBV word nor a URI
    assert broken(lambda e: e.update(eventTimeZoneOffset="+8:00"))
    assert broken(lambda e: e.update(eventTime="2026-11-29 10:00"))  # not RFC 3339
    assert broken(lambda e: e.update(readPoint={"id": "WH-1 仓前区"}))  # not a URI
    assert broken(lambda e: e.update(action="ARRIVE"))
    assert broken(lambda e: e.pop("eventTime"))
    assert broken(lambda e: e.update(shoeSize=42))  # an extension must be a namespaced URI


def test_our_cbv_words_are_the_contexts_and_our_prefix_collides_with_none():
    """Bare bizStep / disposition words expand through the official JSON-LD context to CBV
    URIs; any word not in it would be meaningless, so every bare word we use must be there.
    The context is @protected: our own prefix must not redefine one of its terms."""
    from markets import epcis

    context = json.loads((DATA / "epcis-context.jsonld").read_text())["@context"]
    biz_steps, dispositions = set(context["bizStep"]["@context"]), set(context["disposition"]["@context"])
    used_steps = {step for _a, step, _d in epcis.STEPS.values() if isinstance(step, str)}
    used_dispositions = {d for _a, _s, d in epcis.STEPS.values() if isinstance(d, str)}
    used_dispositions |= {
        "conformant",
        "mismatch_quantity",
        "non_conformant",
        "unknown",
        "recalled",
        "sellable_accessible",
    }  # chosen per event (arrival, results, voids)
    assert used_steps <= biz_steps, used_steps - biz_steps
    assert used_dispositions <= dispositions, used_dispositions - dispositions
    assert epcis.PREFIX not in context
