"""The declaration's papers on the pages: the merchant's upload form on a draft or rejected
batch (a new paper, or the replacement of a wrong one), and the scoped view of a paper that the
reviewer's and the crew's lists point at (docs/web.md "Papers with the declaration")."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from batches.actions import Capability
from batches.api.papers import document_response, scoped_document
from batches.errors import DomainError, InputError
from batches.models import DocumentKind
from batches.papers import document_add
from batches.web.common import role_page, scoped_batch


@require_POST
@role_page(Capability.ATTACH_PAPERS)
def paper_add(request, number):
    batch = scoped_batch(request.actor, number)
    back = redirect(f"{batch_url(batch)}#papers")
    kind = request.POST.get("kind", "")
    if kind not in DocumentKind.values:
        messages.error(request, _("Choose what the paper is."))
        return back
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Choose a PDF or take a photo of the paper first."))
        return back
    try:
        document_add(
            batch=batch,
            actor=request.actor,
            kind=kind,
            upload=upload,
            note=request.POST.get("note", "").strip()[:200],
            supersedes=request.POST.get("supersedes", "")[:100] or None,
        )
    except InputError as error:
        for problems in error.errors.values():
            for problem in problems:
                messages.error(request, problem)
        return back
    except DomainError as error:
        messages.error(request, error.detail)
        return back
    messages.success(request, _("The paper is attached to batch %(number)s.") % {"number": batch.number})
    return back


def batch_url(batch) -> str:
    return reverse("web:batch-detail", args=[batch.number])


@require_GET
@role_page()
def paper_file(request, document_id, variant):
    document = scoped_document(request.actor, document_id)
    return document_response(document, "thumbnail" if variant == "thumbnail" else "file")
