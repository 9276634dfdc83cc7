"""The merchant's sales: sell by scanning (all or nothing through `markets.services.sale_record`)
and "my sales" with void (`sale_void`)."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from batches.actions import Capability
from batches.errors import DomainError, InputError
from batches.web import writes
from batches.web.common import flatten_errors, page, role_page
from batches.web.forms import apply_errors
from markets import services as market_services
from markets.models import BuyerKind, Sale
from markets.sales_api import SaleInput
from markets.selectors import shown_phone, visible_sales


def _limit(name):
    return Sale._meta.get_field(name).max_length


class SaleForm(forms.Form):
    """The scanned codes and the buyer. Field checks render the inputs; the rules (mainland
    mobile, credit code only for business buyers, its check character) are the sales API's
    `SaleInput`, run in `validated()`."""

    codes = forms.CharField(
        label=gettext_lazy("Scanned codes (one per line)"),
        required=True,
        widget=forms.Textarea(attrs={"rows": 3, "data-scan-store": "1"}),
    )
    buyer_name = forms.CharField(label=gettext_lazy("Buyer name"), max_length=_limit("buyer_name"))
    buyer_phone = forms.CharField(
        label=gettext_lazy("Buyer mobile phone"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    buyer_kind = forms.ChoiceField(
        label=gettext_lazy("Buyer kind"),
        initial=BuyerKind.CONSUMER,
        choices=BuyerKind.choices,
        widget=forms.RadioSelect,
    )
    buyer_credit_code = forms.CharField(
        label=gettext_lazy("Unified social credit code (business buyers)"), required=False, max_length=18
    )

    def scans(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["codes"].splitlines() if line.strip()]

    def validated(self) -> dict | None:
        if not self.is_valid():
            return None
        payload = {**self.cleaned_data, "codes": self.scans()}
        serializer = SaleInput(data=payload)
        if not serializer.is_valid():
            apply_errors(self, serializer.errors)
            return None
        return dict(serializer.validated_data)


@role_page(Capability.SELL)
def sale_new(request):
    if request.method == "POST" and (replayed := writes.guard(request)) is not None:
        return replayed  # sent before (a lost answer, the queue's retry): its first result
    form = SaleForm(request.POST or None)
    problems = {}
    refusal = ""
    data = form.validated() if request.method == "POST" else None
    if data is not None:
        scans = data.pop("codes")
        made = {}

        def sell():
            made["sale"] = sale = market_services.sale_record(actor=request.actor, scans=scans, **data)
            return {
                "kind": "sale",
                "sale": sale.pk,
                "count": len(scans),
                "at": sale.sold_at.isoformat(),
                "next": reverse("web:sale-list"),
            }

        try:
            result, replayed = writes.once(request, sell)
        except InputError as error:
            per_code = error.errors.get("codes") if isinstance(error.errors, dict) else None
            if isinstance(per_code, dict):
                problems = {str(k): str(v) for k, v in per_code.items()}
                refusal = _("Nothing was sold: %(count)d scanned codes have a problem.") % {"count": len(problems)}
            else:
                apply_errors(form, error.errors)
        except DomainError as error:
            refusal = error.detail
        else:
            flash = None
            if not replayed:
                flash = (
                    messages.SUCCESS,
                    _("Sale no. %(id)s recorded: %(count)d items to %(buyer)s.")
                    % {"id": made["sale"].pk, "count": len(scans), "buyer": made["sale"].buyer_name},
                )
            return writes.done(request, result, replayed=replayed, flash=flash)
    if request.method == "POST" and writes.queued(request):  # refused: the queue says why
        errors = [f"{value}: {problem}" for value, problem in problems.items()] or writes.form_errors(form)
        return writes.refused(request, 400 if problems or not refusal else 409, message=refusal, errors=errors)
    if refusal:
        messages.error(request, refusal)
    scanned = [line.strip() for line in (form.data.get("codes") or "").splitlines() if line.strip()]
    if request.method == "POST" and data is None and scanned:  # the buyer's errors and the codes' at once
        problems = market_services.sale_code_problems(actor=request.actor, scans=scanned)
    return page(
        request,
        "web/sale_new.html",
        {"form": form, "problems": problems, "scanned": scanned},
        active="sell",
        status=400 if request.method == "POST" else 200,
    )


class VoidForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason for voiding"), max_length=_limit("void_reason"))


@role_page(Capability.SELL)
def sale_list(request):
    sales = list(
        visible_sales(request.actor)
        .prefetch_related("items__code__batch", "items__code__line")
        .order_by("-sold_at", "-id")[:200]
    )
    for sale in sales:  # as the sales API shows it: in full to regulators only (docs/contract.md §5)
        sale.shown_phone = shown_phone(request.actor, sale.buyer_phone)
    return page(request, "web/sale_list.html", {"sales": sales, "void_form": VoidForm()}, active="sales")


@require_POST
@role_page(Capability.VOID_SALE)
def sale_void(request, sale_id):
    sale = get_object_or_404(visible_sales(request.actor), pk=sale_id)
    form = VoidForm(request.POST)
    if not form.is_valid():
        for line in flatten_errors({form.fields[name].label: problems for name, problems in form.errors.items()}):
            messages.error(request, line)
        return redirect("web:sale-list")
    try:
        market_services.sale_void(actor=request.actor, sale=sale, reason=form.cleaned_data["reason"])
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Sale no. %(id)s was voided; its codes can be sold again.") % {"id": sale.pk})
    return redirect("web:sale-list")
