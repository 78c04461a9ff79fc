"""What paywire asks of Stripe Connect, in marketplace words (`gateway.connect`).

Sellers' connected accounts are Accounts v2 (`/v2/core/accounts`): created with the Express
Dashboard, the platform collecting fees and bearing losses (destination charges), the merchant
configuration (card payments, for sales `on_behalf_of` the seller) and the recipient
configuration (transfers into the seller's Stripe balance, and payouts from it); onboarding and
updates through v2 account links (Stripe-hosted). Where the pinned API (2026-10-28.endive) has
no v2 way, the same account is used through v1, which Stripe keeps interoperable: the login link
to the Express Dashboard (v2 account links gain a dashboard use case only in 2026-11-18), the
account's balance, payouts and events (`Stripe-Account`), and the platform's transfers,
application fees and refunds.
"""

from __future__ import annotations

from typing import Any, cast

from paywire.stripe.client import ApiClient, Params, plain

# What a seller's state is read with: capability statuses of both configurations, and the
# requirements (what is due, by when, and what it restricts).
ACCOUNT_INCLUDE = ("configuration.merchant", "configuration.recipient", "requirements")


class Connect:
    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._v1 = api.sdk.v1
        self._v2 = api.sdk.v2

    def create_account(
        self, *, user_id: str, email: str | None, display_name: str | None, country: str, idempotency_key: str
    ) -> dict[str, Any]:
        """A seller's connected account (Accounts v2), with the user's id in its metadata."""
        params: Params = {
            "dashboard": "express",
            "identity": {"country": country.lower()},
            "defaults": {"responsibilities": {"fees_collector": "application", "losses_collector": "application"}},
            "configuration": {
                "merchant": {"capabilities": {"card_payments": {"requested": True}}},
                "recipient": {"capabilities": {"stripe_balance": {"stripe_transfers": {"requested": True}}}},
            },
            "metadata": {"user_id": user_id},
            "include": list(ACCOUNT_INCLUDE),
        }
        if email:
            params["contact_email"] = email
        if display_name:
            params["display_name"] = display_name
        return self._api.create(self._v2.core.accounts.create, params, idempotency_key)

    def retrieve_account(self, account_id: str) -> dict[str, Any]:
        """The account as v2 shows it, with its capability statuses and requirements."""
        params: Any = {"include": list(ACCOUNT_INCLUDE)}
        return plain(self._api.call(lambda: self._v2.core.accounts.retrieve(account_id, params=params)))

    def list_accounts(self) -> list[dict[str, Any]]:
        """Every connected account of the platform (v2 pages are followed by their links)."""
        params: Any = {"limit": 100, "include": list(ACCOUNT_INCLUDE)}
        first = self._api.call(lambda: self._v2.core.accounts.list(params=params))
        return [plain(a) for a in self._api.call(lambda: list(first.auto_paging_iter()))]

    def account_link(self, account_id: str, *, update: bool, refresh_url: str, return_url: str) -> dict[str, Any]:
        """A single-use, short-lived link to Stripe-hosted onboarding (or, once onboarded, to
        update what the account gave): expired or used, it sends the browser to `refresh_url`."""
        use_case = "account_update" if update else "account_onboarding"
        params: Any = {
            "account": account_id,
            "use_case": {"type": use_case, use_case: {"refresh_url": refresh_url, "return_url": return_url}},
        }
        return plain(self._api.call(lambda: self._v2.core.account_links.create(params=params)))

    def login_link(self, account_id: str) -> dict[str, Any]:
        """A single-use link to the account's Express Dashboard (v1: see the module docstring)."""
        return plain(self._api.call(lambda: self._v1.accounts.login_links.create(account_id)))

    def balance(self, account_id: str) -> dict[str, Any]:
        options: Any = {"stripe_account": account_id}
        return plain(self._api.call(lambda: self._v1.balance.retrieve(options=options)))

    def retrieve_payout(self, account_id: str, payout_id: str) -> dict[str, Any]:
        options: Any = {"stripe_account": account_id}
        return plain(self._api.call(lambda: self._v1.payouts.retrieve(payout_id, options=options)))

    def list_payouts(self, account_id: str) -> list[dict[str, Any]]:
        options: Any = {"stripe_account": account_id}
        page = self._api.call(lambda: self._v1.payouts.list(params={"limit": 100}, options=options))
        return [plain(p) for p in page.data]

    def retrieve_transfer(self, transfer_id: str) -> dict[str, Any]:
        return self._api.get_json("transfers", transfer_id)

    def list_transfers(self, *, destination: str) -> list[dict[str, Any]]:
        return self._api.list_all(self._v1.transfers.list, {"destination": destination, "limit": 100})

    def retrieve_application_fee(self, fee_id: str) -> dict[str, Any]:
        return self._api.get_json("application_fees", fee_id)

    def list_application_fees(self) -> list[dict[str, Any]]:
        return self._api.list_all(self._v1.application_fees.list, {"limit": 100})

    def create_transfer(
        self,
        *,
        destination: str,
        amount: int,
        currency: str,
        transfer_group: str,
        source_transaction: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Pay a seller their share of a separate charge (`source_transaction`: the transfer
        waits for that charge's funds, and is limited to them)."""
        params: Params = {
            "destination": destination,
            "amount": amount,
            "currency": currency,
            "transfer_group": transfer_group,
            "metadata": metadata,
        }
        if source_transaction:
            params["source_transaction"] = source_transaction
        return self._api.create(self._v1.transfers.create, params, idempotency_key)

    def reverse_transfer(self, transfer_id: str, *, amount: int, idempotency_key: str) -> dict[str, Any]:
        """Take `amount` of a separate transfer back from the seller's account."""
        options: Any = {"idempotency_key": idempotency_key}
        params: Any = {"amount": amount}
        return plain(
            self._api.call(lambda: self._v1.transfers.reversals.create(transfer_id, params=params, options=options))
        )

    def refund_sale(
        self,
        *,
        charge_id: str,
        amount: int | None,
        reverse_transfer: bool,
        refund_application_fee: bool,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Refund a destination charge, taking back from the seller what the platform's policy
        says: the refunded share of the transfer, and of the platform's fee."""
        params: Params = {"charge": charge_id, "reason": "requested_by_customer", "metadata": metadata}
        if amount is not None:
            params["amount"] = amount
        if reverse_transfer:
            params["reverse_transfer"] = True
        if refund_application_fee:
            params["refund_application_fee"] = True
        return self._api.create(self._v1.refunds.create, params, idempotency_key)

    def list_events_page(
        self, account_id: str, *, created_gte: int, created_lt: int | None, starting_after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of a connected account's `/v1/events` (its own, with `Stripe-Account`)."""
        created: Params = {"gte": created_gte}
        if created_lt is not None:
            created["lt"] = created_lt
        params: Params = {"created": created, "limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        options: Any = {"stripe_account": account_id}
        page = self._api.call(lambda: self._v1.events.list(params=cast(Any, params), options=options))
        return [plain(e) for e in page.data], bool(page.has_more)
