"""The pages a subscriber sees: pricing, sign-in, checkout return, account. Server-rendered
(Jinja2), a little JavaScript where it helps, working without it; no build step.

Served by `paywire.web.app.router` in dev mode, elsewhere only with PAYWIRE_PAGES=true; the
demo sign-in has its own switch (see `session`). The pieces every page uses:
- `session`: `PageUser`, the `OptionalPageUser` / `SignedInPageUser` dependencies;
- `csrf`: `checked_form(request)` for every POST form, `csrf_token` in every template;
- `render`: `render(request, "x.html", **values)`, `redirect_with_flash(...)`, the filters;
- `routing`: `page_router()`, an APIRouter whose routes render a raised `PageError` as a page.
"""
