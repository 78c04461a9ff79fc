"""Hosted pages a person uses in a browser: Checkout, 3D Secure, invoices, receipts, the portal.

Importing this package registers their routes.
"""

from stripesim.pages import authenticate, checkout, invoice, portal, portal_login, receipt  # noqa: F401
