"""Hosted pages a person uses in a browser: Checkout, 3D Secure, invoices, receipts, the portal,
Connect onboarding and the Express Dashboard.

Importing this package registers their routes.
"""

from stripesim.pages import authenticate, checkout, connect, invoice, portal, portal_login, receipt  # noqa: F401
