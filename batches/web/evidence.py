"""Evidence photos on the pages: the batch card's "add a photo" form (the phone's camera opens
from the file input) and the scoped image view the timeline's thumbnails point at."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from batches.actions import Capability
from batches.actors import visible_batches
from batches.api.attachments import image_response
from batches.attachments import attachment_add, require_may_attach
from batches.errors import DomainError, InputError
from batches.models import Attachment, AttachmentKind
from batches.web.common import role_page, scoped_batch


@require_POST
@role_page(Capability.ATTACH_PHOTOS)
def photo_add(request, number):
    batch = scoped_batch(request.actor, number)
    kind = request.POST.get("kind", "")
    if kind not in AttachmentKind.values:
        messages.error(request, _("Choose what the photo shows."))
        return redirect("web:batch-detail", batch.number)
    require_may_attach(request.actor, kind)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Take or choose a photo first."))
        return redirect("web:batch-detail", batch.number)
    try:
        attachment_add(
            batch=batch,
            actor=request.actor,
            kind=kind,
            upload=upload,
            note=request.POST.get("note", "").strip()[:500],
        )
    except InputError as error:
        for problems in error.errors.values():
            for problem in problems:
                messages.error(request, problem)
        return redirect("web:batch-detail", batch.number)
    except DomainError as error:
        messages.error(request, error.detail)
        return redirect("web:batch-detail", batch.number)
    messages.success(request, _("The photo is attached to batch %(number)s.") % {"number": batch.number})
    return redirect("web:batch-detail", batch.number)


@require_GET
@role_page()
def photo_image(request, attachment_id, variant):
    attachment = get_object_or_404(
        Attachment.objects.filter(batch__in=visible_batches(request.actor)), pk=attachment_id
    )
    return image_response(attachment, "thumbnail" if variant == "thumbnail" else "file")
