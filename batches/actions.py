"""The registry of batch actions and the one role check (docs/architecture.md).

Each batch action is declared once, as an `ActionSpec`: where it may start (sources), where it
may lead (targets), who may take it (roles), its input and service, and what the outside needs
(label, button, URL slug, success status, EPCIS step, the page's "done" message). The lifecycle
declares its timer action itself; every other action is declared with `@declare(...)` on its
service in `batches/services.py`, which `BatchesConfig.ready()` imports. The API routes, the
page's forms and buttons, the timeline labels and the EPCIS export read this registry.

This module sits at the bottom of the batches app: it imports the models only, so anything may
import it. `may()` / `require()` are the one way a role is checked, for batch actions and for
the named capabilities below alike.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from .models import Role


class Action(StrEnum):
    """Every action on a batch, in the order `allowed_actions` lists them."""

    EDIT = "edit"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    REVISE = "revise"
    ARRIVE = "arrive"
    RETURN = "return"
    DISINFECT = "disinfect"
    MOVE_TO_RESTING = "move_to_resting"
    SAMPLE = "sample"
    TEST_RESULT = "test_result"
    COMPLETE_REST = "complete_rest"
    MOVE_TO_STORAGE = "move_to_storage"
    ISSUE_CODES = "issue_codes"
    RELEASE = "release"
    REDISINFECT = "redisinfect"
    DESTROY = "destroy"
    RECALL = "recall"


# A target meaning "the status stays what it was" (a record such as a disinfection, or a
# release that leaves codes in the warehouse).
KEEP = "="


class Style(StrEnum):
    """How a page offers the action."""

    BUTTON = "button"  # a plain button, no input
    FORM = "form"  # a panel with a form
    NONE = "none"  # not offered by the batch page (the timer; edit has its own page)


@dataclass(frozen=True)
class ActionSpec:
    name: Action
    sources: frozenset
    targets: frozenset  # statuses it may lead to; KEEP: the status stays
    roles: frozenset
    service: Callable | None = None  # service(batch=, actor=, **validated input)
    input: type | None = None  # the input serializer (batches/inputs.py)
    label: str = ""  # the event on a timeline
    button: str = ""  # the button or panel that takes it
    style: Style = Style.FORM
    slug: str = ""  # the API's URL segment, /api/batches/{number}/<slug>/; "" has no POST route
    success_status: int = 200  # records (disinfection, sample, result) answer 201
    epcis: tuple = ()  # (EPCIS action, bizStep, disposition); see markets/epcis.py
    done: str = ""  # what the page says after it, with %(number)s
    stopped_by_seal: bool = False  # a seal in force refuses it (batches/seals.py); so is a sale
    refusal: str = field(default=_("Your role cannot take this action on this batch."))

    @property
    def target(self) -> str | None:
        """The one status it leads to, or None where the status stays or the outcome decides."""
        if len(self.targets) == 1 and KEEP not in self.targets:
            return next(iter(self.targets))
        return None

    def allows_target(self, before: str, after: str) -> bool:
        return after in self.targets or (after == before and KEEP in self.targets)


REGISTRY: dict[str, ActionSpec] = {}


def stopped_by_seal(action: str) -> bool:
    """Whether a seal in force refuses this batch action (its declaration says so)."""
    spec = REGISTRY.get(action)
    return spec is not None and spec.stopped_by_seal


def register(spec: ActionSpec) -> ActionSpec:
    if spec.name in REGISTRY:
        raise RuntimeError(f"batch action {spec.name} is declared twice")
    REGISTRY[spec.name] = spec
    return spec


def declare(name: Action, *, sources, targets, roles, **outside) -> Callable:
    """Declare an action on its service: `@declare(Action.SUBMIT, sources=..., targets=..., roles=...)`."""

    def decorate(service):
        register(
            ActionSpec(
                name=name,
                sources=frozenset(sources),
                targets=frozenset(targets),
                roles=frozenset(roles),
                service=service,
                **outside,
            )
        )
        return service

    return decorate


def spec_of(action: str) -> ActionSpec:
    return REGISTRY[action]


def declared() -> Iterator[ActionSpec]:
    """The declared actions in the order of `Action`."""
    return (REGISTRY[name] for name in Action if name in REGISTRY)


# Events that are not batch actions; a batch action's label is in its declaration (batches/actions.py).
EVENT_LABELS = {
    "declare": _("Declared"),
    "sale": _("Sold"),
    "sale_void": _("Sale voided"),
    "attach": _("Photo attached"),
    "attach_paper": _("Paper attached"),
    "seal": _("Sealed"),
    "lift_seal": _("Seal lifted"),
    "incident_open": _("Incident opened"),
}


def action_label(action: str) -> str:
    spec = REGISTRY.get(action)
    return spec.label if spec is not None else EVENT_LABELS.get(action, action)


# --- one way to check a role ------------------------------------------------------------------


class Capability(StrEnum):
    """What a role may do besides the batch actions (SPEC §2)."""

    DECLARE = "declare"
    SELL = "sell"
    VOID_SALE = "void_sale"
    LIST_SALES = "list_sales"
    SEE_BUYER_PHONES = "see_buyer_phones"
    TRACE = "trace"
    SEE_DASHBOARD = "see_dashboard"
    SEE_ALERTS = "see_alerts"
    REVIEW = "review"
    SCAN = "scan"
    WORK_THE_FLOOR = "work_the_floor"  # the operator's scan page and batch card
    SEE_ZONE_BOARD = "see_zone_board"
    PRINT_LABELS = "print_labels"
    HANDLE_INCIDENTS = "handle_incidents"
    ATTACH_PHOTOS = "attach_photos"
    ATTACH_PAPERS = "attach_papers"


PAGE_REFUSAL = _("This page is not for your role.")

# capability: (roles, what a refused caller is told)
CAPABILITIES: dict[Capability, tuple[frozenset, str]] = {
    Capability.DECLARE: (frozenset({Role.MERCHANT}), _("Only merchants declare batches.")),
    Capability.SELL: (frozenset({Role.MERCHANT}), _("Only merchants record sales.")),
    Capability.VOID_SALE: (frozenset({Role.MERCHANT}), _("Only the merchant who sold it can void a sale.")),
    Capability.LIST_SALES: (frozenset({Role.MERCHANT, Role.REGULATOR}), _("Your role cannot see sales.")),
    Capability.SEE_BUYER_PHONES: (frozenset({Role.REGULATOR}), PAGE_REFUSAL),
    Capability.TRACE: (frozenset({Role.REGULATOR}), _("Only regulators trace.")),
    Capability.SEE_DASHBOARD: (frozenset({Role.REGULATOR}), PAGE_REFUSAL),
    Capability.SEE_ALERTS: (frozenset({Role.MERCHANT, Role.REVIEWER, Role.OPERATOR, Role.REGULATOR}), PAGE_REFUSAL),
    Capability.REVIEW: (frozenset({Role.REVIEWER}), PAGE_REFUSAL),
    Capability.SCAN: (frozenset({Role.OPERATOR, Role.MERCHANT}), _("Only warehouse operators and merchants can scan.")),
    Capability.WORK_THE_FLOOR: (frozenset({Role.OPERATOR}), PAGE_REFUSAL),
    Capability.SEE_ZONE_BOARD: (frozenset({Role.OPERATOR, Role.REGULATOR}), PAGE_REFUSAL),
    Capability.PRINT_LABELS: (frozenset({Role.OPERATOR}), _("Only warehouse operators can print labels.")),
    Capability.HANDLE_INCIDENTS: (frozenset({Role.REGULATOR}), _("Only regulators handle incidents.")),
    Capability.ATTACH_PAPERS: (
        frozenset({Role.MERCHANT}),
        _("Only the merchant who declared the batch attaches its papers."),
    ),
    Capability.ATTACH_PHOTOS: (
        frozenset({Role.OPERATOR, Role.REGULATOR}),
        _("Your role cannot attach this kind of photo."),
    ),
}


class RoleRefused(PermissionDenied):
    """The caller's role may not do this: 403 in the API (DRF maps Django's PermissionDenied)
    and the 403 page on the web. Scope (404) is checked before it, the state (409) after."""


def roles_for(what: str) -> frozenset:
    if what in CAPABILITIES:
        return CAPABILITIES[what][0]
    return REGISTRY[what].roles


def may(actor, what: str) -> bool:
    """May this actor (or None, nobody signed in with a role) take the action or capability?"""
    return actor is not None and actor.role in roles_for(what)


def require(actor, what: str) -> None:
    """Raise RoleRefused unless `may(actor, what)`."""
    if not may(actor, what):
        raise RoleRefused(CAPABILITIES[what][1] if what in CAPABILITIES else REGISTRY[what].refusal)
