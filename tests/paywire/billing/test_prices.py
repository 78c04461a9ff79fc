from __future__ import annotations

import pytest
import stripe

from paywire.billing.errors import PriceUnavailable
from paywire.billing.prices import PriceBook
from paywire.catalog import Catalog
from paywire.catalog.sync import push
from paywire.stripe import StripeGateway


def test_prices_are_found_by_lookup_key(catalog: Catalog, gateway: StripeGateway) -> None:
    push(catalog, gateway)
    book = PriceBook(catalog, gateway)
    pro_month = book.price_id_for("pro_month")
    assert pro_month.startswith("price_")
    assert book.price_id_for("pro_year") != pro_month


def test_an_unpushed_catalog_is_unavailable(catalog: Catalog, gateway: StripeGateway) -> None:
    with pytest.raises(PriceUnavailable, match="catalog push"):
        PriceBook(catalog, gateway).price_id_for("basic_month")


def test_a_drifted_price_is_never_sold(
    catalog: Catalog, gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    push(catalog, gateway)
    book = PriceBook(catalog, gateway)
    book.price_id_for("basic_month")  # cached
    stripe_client.v1.prices.create(
        params={
            "product": "paywire_plan_basic",
            "currency": "usd",
            "unit_amount": 1,
            "recurring": {"interval": "month"},
            "lookup_key": "basic_month",
            "transfer_lookup_key": True,
        }
    )
    book.invalidate()
    with pytest.raises(PriceUnavailable, match="differs"):
        book.price_id_for("basic_month")
