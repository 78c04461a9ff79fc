"""The billing domain: customers, checkout, the portal, passes, and who may do what."""
