"""Payment adapters: Stripe through its official SDK (imported only by the shop and webhook code)."""
