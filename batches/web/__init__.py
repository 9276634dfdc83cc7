"""The web pages of the four roles (docs/contract.md §2): server-rendered, on top of `batches.services`.

Views here parse a form, call one service and render; every queryset comes from the scoping
functions of `batches.actors`, and every rule lives in the services (none is copied here).
"""
