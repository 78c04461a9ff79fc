"""The billing engine: payments, subscriptions, invoices, proration, dunning."""
