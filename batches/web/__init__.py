"""The page frame and the batches' pages (docs/contract.md §2): server-rendered, on top of `batches.services`.

The lowest page layer (docs/architecture.md): `page()`, `role_page`, forms, presenters and the
home pages, with declaration, review and the batch list, detail and actions. The warehouse's
pages (`warehouse.web`) and the markets' (`markets.web`) build on it; it never imports them.
Views here parse a form, call one service and render; every queryset comes from the scoping
functions of `batches.actors`, and every rule lives in the services (none is copied here).
"""
