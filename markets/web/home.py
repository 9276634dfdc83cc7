"""The home page (`/`): a regulator's is the district dashboard, every other role's is the
batches' home page. It sits in the top page layer because it reaches both (docs/architecture.md)."""

from batches.actions import Capability, may
from batches.web import home as batch_home
from batches.web.common import role_page

from .regulator import dashboard


@role_page()
def home(request):
    if may(request.actor, Capability.SEE_DASHBOARD):
        return dashboard(request)
    return batch_home.home(request)
