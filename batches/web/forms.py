"""Forms of the web pages.

The fields render the inputs (labels, limits the browser can show); the rules are the API's:
after Django's own field checks, each form's data goes through the same input serializer the
API uses (`batches.api.serializers`), so a page cannot accept what the API refuses and no rule
(GTIN check digit, market, serving warehouse, limits) exists twice.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..api import serializers as api
from ..countries import UNKNOWN, code_for, country_name
from ..models import TestResult


def limits(serializer_class, name: str) -> dict:
    """max_length / min / max of one field of an API input serializer, for the form field."""
    field = serializer_class().fields[name]
    found = {}
    for attribute in ("max_length", "min_value", "max_value"):
        value = getattr(field, attribute, None)
        if value is not None:
            found[attribute] = value
    return found


def text(serializer_class, name, label, *, required=True, **extra):
    return forms.CharField(label=label, required=required, **limits(serializer_class, name), **extra)


def number(serializer_class, name, label, **extra):
    return forms.IntegerField(label=label, **limits(serializer_class, name), **extra)


def apply_errors(form: forms.BaseForm, errors) -> None:
    """Put an API serializer's (or a service's InputError) errors onto a Django form."""
    if isinstance(errors, dict):
        for name, problems in errors.items():
            problems = problems if isinstance(problems, (list, tuple)) else [problems]
            target = name if name in form.fields else None
            for problem in problems:
                form.add_error(target, str(problem))
    else:
        for problem in errors if isinstance(errors, (list, tuple)) else [errors]:
            form.add_error(None, str(problem))


# --- declaration --------------------------------------------------------------------------


class DeclarationForm(forms.Form):
    """The declaration's header. The country is picked by its name from a list (`countries`, a
    datalist: typing filters it) and sent on as its ISO code; a code or an English name is read
    too. The port is picked from a list (`ports`) or typed in."""

    customs_declaration_no = text(api.DeclareInput, "customs_declaration_no", _("Customs declaration no."))
    origin_country = forms.CharField(
        label=_("Country of origin"),
        max_length=100,
        help_text=_("Type to pick from the list, e.g. Italy or IT."),
        widget=forms.TextInput(attrs={"list": "countries", "autocomplete": "off"}),
    )
    port_of_entry = text(
        api.DeclareInput,
        "port_of_entry",
        _("Port of entry"),
        help_text=_("Pick from the list, or type the port if it is not listed."),
        widget=forms.TextInput(attrs={"list": "ports", "autocomplete": "off"}),
    )

    def clean_origin_country(self):
        code = code_for(self.cleaned_data["origin_country"])
        if code is None:
            raise forms.ValidationError(_("Pick a country from the list (its name, or a code such as IT)."))
        return code

    @classmethod
    def initial_of(cls, batch) -> dict:
        """The form's values for a declaration being edited: the country by its name (none for a
        country the older free text did not name: the merchant picks it)."""
        initial = {name: getattr(batch, name) for name in cls.base_fields}
        country = batch.origin_country
        initial["origin_country"] = "" if country == UNKNOWN else country_name(country)
        return initial


class LineForm(forms.Form):
    product_name = text(api.LineInput, "product_name", _("Product name"))
    category = text(api.LineInput, "category", _("Category"))
    specification = text(api.LineInput, "specification", _("Specification"))
    quantity = number(api.LineInput, "quantity", _("Quantity"))
    unit = text(api.LineInput, "unit", _("Unit"), initial=_("pcs"))
    gtin = text(
        api.LineInput,
        "gtin",
        _("GTIN (optional)"),
        required=False,
        help_text=_("8, 12, 13 or 14 digits from the barcode on the goods."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


class BaseLineFormSet(forms.BaseFormSet):
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "too_few_forms": _("Declare at least one goods line."),
        "too_many_forms": _("At most %(num)d goods lines per batch."),
    }

    def clean(self):
        if any(self.errors):
            return
        if not [form for form in self.forms if form.has_changed() or form.cleaned_data]:
            raise forms.ValidationError(_("Declare at least one goods line."))


LineFormSet = forms.formset_factory(
    LineForm, formset=BaseLineFormSet, extra=0, min_num=1, validate_min=True, max_num=api.MAX_LINES, validate_max=True
)


def validate_declaration(*, actor, form: DeclarationForm, lines, market_code: str | None, edit: bool = False):
    """The declaration through the API's own input serializer; errors land on the fields.
    Returns the validated data or None."""
    if not (form.is_valid() and lines.is_valid()):
        return None
    payload = dict(form.cleaned_data)
    payload["lines"] = [
        {**line.cleaned_data, "gtin": line.cleaned_data.get("gtin") or ""} for line in lines.forms if line.cleaned_data
    ]
    if edit:
        serializer = api.EditInput(data=payload)
    else:
        serializer = api.DeclareInput(data={**payload, "market": market_code}, context={"actor": actor})
    if serializer.is_valid():
        return dict(serializer.validated_data)
    errors = dict(serializer.errors)
    line_errors = errors.pop("lines", None)
    if isinstance(line_errors, list):
        for line, problems in zip(lines.forms, line_errors, strict=False):
            if problems:
                apply_errors(line, problems)
    elif line_errors:
        apply_errors(form, {"__all__": line_errors})
    apply_errors(form, errors)
    return None


# --- review -------------------------------------------------------------------------------


class ApproveForm(forms.Form):
    warehouse = forms.ModelChoiceField(label=_("Warehouse"), queryset=None, to_field_name="code", empty_label=None)

    def __init__(self, *args, batch, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch = batch
        self.fields["warehouse"].queryset = batch.market.warehouses.order_by("code")

    def validated(self):
        if not self.is_valid():
            return None
        serializer = api.ApproveInput(
            data={"warehouse": self.cleaned_data["warehouse"].code}, context={"batch": self.batch}
        )
        if not serializer.is_valid():
            apply_errors(self, serializer.errors)
            return None
        return dict(serializer.validated_data)


class ReasonForm(forms.Form):
    reason = text(api.ReasonInput, "reason", _("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class OptionalReasonForm(forms.Form):
    reason = text(api.OptionalReasonInput, "reason", _("Reason (optional)"), required=False)


# --- warehouse records ----------------------------------------------------------------------


MATCH_CHOICES = [("on", _("Yes")), ("off", _("No"))]


def _said_yes(value) -> bool:
    return value == "on"


class ArrivalLineForm(forms.Form):
    line = forms.IntegerField(widget=forms.HiddenInput)
    received_quantity = number(api.ArrivalLineInput, "received_quantity", _("Received quantity"))
    # Asked, not pre-ticked: the operator says yes or no for each line (docs/web.md).
    type_matches = forms.TypedChoiceField(
        label=_("Type matches"), choices=MATCH_CHOICES, coerce=_said_yes, widget=forms.RadioSelect
    )
    spec_matches = forms.TypedChoiceField(
        label=_("Specification matches"), choices=MATCH_CHOICES, coerce=_said_yes, widget=forms.RadioSelect
    )


ArrivalFormSet = forms.formset_factory(ArrivalLineForm, extra=0)


def arrival_formset(batch, data=None):
    """One form per declared line, asking what was counted: no quantity filled in, no match
    ticked in advance (a re-check shows what the last check recorded)."""
    lines = list(batch.lines.all())
    initial = [
        {
            "line": line.pk,
            "received_quantity": line.received_quantity,
            **(
                {}
                if line.received_quantity is None
                else {
                    "type_matches": "on" if line.type_matches else "off",
                    "spec_matches": "on" if line.spec_matches else "off",
                }
            ),
        }
        for line in lines
    ]
    formset = ArrivalFormSet(data, initial=initial, prefix="arrival")
    for form, line in zip(formset.forms, lines, strict=False):
        form.batch_line = line
        form.empty_permitted = False  # an unchanged line (all as declared) is still a checked line
    return formset


class DisinfectForm(forms.Form):
    agent = text(api.DisinfectInput, "agent", _("Disinfectant"), initial=_("Chlorine disinfectant"))
    concentration = text(api.DisinfectInput, "concentration", _("Concentration"), initial="500 mg/L")
    method = text(api.DisinfectInput, "method", _("Method"), initial=_("Spraying"))


class SampleForm(forms.Form):
    sample_no = text(api.SampleInput, "sample_no", _("Sample no."))
    lab = text(api.SampleInput, "lab", _("Laboratory"))


class TestResultForm(forms.Form):
    __test__ = False  # not a pytest test class

    sample_no = text(api.TestResultInput, "sample_no", _("Sample no."))
    result = forms.ChoiceField(
        label=_("Result"),
        choices=TestResult.Outcome.choices,
        widget=forms.RadioSelect,
    )
    report_no = text(api.TestResultInput, "report_no", _("Report no."))


class ScanForm(forms.Form):
    q = forms.CharField(
        label=_("Scan or type a batch number, code or QR link"),
        max_length=300,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "off", "data-scan-box": "1", "enterkeyhint": "go"}
        ),
    )
