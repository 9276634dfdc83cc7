"""The incident report as a PDF in Chinese (README "Incident mode"): the incident, the
timeline, the co-located lots and the people contacted. reportlab, with the label sheets' CJK
font (batches.labels: an embedded TrueType font, or the built-in CID font as the fallback)."""

from xml.sax.saxutils import escape

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from markets.models import person_name

from . import incidents as svc
from .actions import action_label
from .labels import _font
from .models import Incident, Status


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "—"


def timeline_rows(incident: Incident, actor) -> list[list[str]]:
    """The report's timeline: time, batch, event, by whom (the person's name), status after."""
    return [
        [
            _when(e.at),
            e.batch.number,
            str(action_label(e.action)),
            person_name(e.actor) if e.actor else _("system"),
            str(Status(e.status_after).label) if e.status_after in Status.values else e.status_after,
        ]
        for e in svc.incident_timeline(incident, actor)
    ]


def write_incident_report(incident: Incident, actor, out) -> None:
    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=22)
    heading = ParagraphStyle("heading", parent=body, fontSize=12, leading=18, spaceBefore=8)

    def p(text, style=body):
        return Paragraph(escape(str(text)), style)

    def table(header, rows, widths):
        data = (
            [[p(h) for h in header]] + [[p(cell) for cell in row] for row in rows] if rows else [[p(h) for h in header]]
        )
        t = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    with translation.override("zh-hans"):
        batch = incident.batch
        lots = svc.colocated_lots(incident, actor)
        contacts = list(incident.contacts.select_related("batch").order_by("contacted_at", "id"))
        story = [
            p(_("Incident report"), title),
            p(
                _("Incident %(id)s · batch %(number)s · opened %(opened)s · %(state)s")
                % {
                    "id": incident.pk,
                    "number": batch.number,
                    "opened": _when(incident.opened_at),
                    "state": incident.get_state_display(),
                }
            ),
            p(
                _("Warehouse %(warehouse)s · market %(market)s · merchant %(merchant)s")
                % {
                    "warehouse": batch.warehouse.code if batch.warehouse_id else "—",
                    "market": batch.market.code,
                    "merchant": batch.merchant.name,
                }
            ),
            p(
                _("Sample %(sample)s · report %(report)s")
                % {"sample": incident.sample_no, "report": incident.report_no or "—"}
            ),
            Spacer(1, 4 * mm),
            p(_("Timeline"), heading),
            table(
                [_("Time"), _("Batch"), _("Event"), _("By"), _("Status")],
                timeline_rows(incident, actor),
                [32, 45, 40, 30, 30],
            ),
            p(_("Co-located lots"), heading),
            table(
                [_("Batch"), _("Market"), _("Merchant"), _("Why"), _("Sealed")],
                [
                    [
                        lot["batch"].number,
                        lot["batch"].market.code,
                        lot["batch"].merchant.name,
                        "、".join(str(svc.REASON_LABELS.get(r, r)) for r in lot["reasons"]),
                        _("yes") if lot["sealed"] else _("no"),
                    ]
                    for lot in lots
                ],
                [45, 22, 45, 45, 20],
            ),
            p(_("People contacted"), heading),
            table(
                [_("Time"), _("Who"), _("Name"), _("Phone"), _("Batch")],
                [[_when(c.contacted_at), c.get_kind_display(), c.name, c.phone, c.batch.number] for c in contacts],
                [32, 22, 50, 30, 45],
            ),
        ]
        doc = SimpleDocTemplate(
            out,
            pagesize=A4,
            title=f"incident {incident.pk} {batch.number}",
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=15 * mm,
        )
        doc.build(story)
