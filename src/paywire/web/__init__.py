"""The HTTP edge: the billing API, health and metrics, the dev pages, auth and guards."""

from paywire.context import PaywireContext
from paywire.web.app import create_app, mount, router
from paywire.web.auth import CurrentUser, Principal, current_user
from paywire.web.context import get_context
from paywire.web.guards import require_feature, require_plan
from paywire.web.seller_api import require_seller
from paywire.web.usage_api import require_usage

__all__ = [
    "CurrentUser",
    "PaywireContext",
    "Principal",
    "create_app",
    "current_user",
    "get_context",
    "mount",
    "require_feature",
    "require_plan",
    "require_seller",
    "require_usage",
    "router",
]
