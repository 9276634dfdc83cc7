"""Evidence photos on the pages: the batch card's "add a photo" form (the phone's camera opens
from the file input) and the scoped image view the timeline's thumbnails point at."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from batches.actions import Capability
from batches.actors import visible_batches
from batches.api.attachments import image_response
from batches.attachments import attachment_add, require_may_attach
from batches.errors import DomainError, InputError
from batches.models import Attachment, AttachmentKind
from batches.web import writes
from batches.web.common import role_page, scoped_batch


@require_POST
@role_page(Capability.ATTACH_PHOTOS)
def photo_add(request, number):
    batch = scoped_batch(request.actor, number)
    if (replayed := writes.guard(request)) is not None:
        return replayed  # sent before (a lost answer, the device queue's retry): its first result
    kind = request.POST.get("kind", "")
    upload = request.FILES.get("file")
    problems = []
    if kind not in AttachmentKind.values:
        problems = [_("Choose what the photo shows.")]
    elif upload is None:
        problems = [_("Take or choose a photo first.")]
    else:
        require_may_attach(request.actor, kind)

        def attach():
            attachment_add(
                batch=batch,
                actor=request.actor,
                kind=kind,
                upload=upload,
                note=request.POST.get("note", "").strip()[:500],
            )
            return {
                "kind": "photo",
                "number": batch.number,
                "at": timezone.now().isoformat(),
                "next": reverse("web:batch-detail", args=[batch.number]),
            }

        try:
            result, replayed = writes.once(request, attach)
        except InputError as error:
            problems = [problem for values in error.errors.values() for problem in values]
        except DomainError as error:
            problems = [error.detail]
        else:
            flash = (messages.SUCCESS, _("The photo is attached to batch %(number)s.") % {"number": batch.number})
            return writes.done(request, result, replayed=replayed, flash=None if replayed else flash)
    if writes.queued(request):
        return writes.refused(request, 400, message=problems[0], errors=problems[1:])
    for problem in problems:
        messages.error(request, problem)
    return redirect("web:batch-detail", batch.number)


@require_GET
@role_page()
def photo_image(request, attachment_id, variant):
    attachment = get_object_or_404(
        Attachment.objects.filter(batch__in=visible_batches(request.actor)), pk=attachment_id
    )
    return image_response(attachment, "thumbnail" if variant == "thumbnail" else "file")
