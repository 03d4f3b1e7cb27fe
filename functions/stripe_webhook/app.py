"""HTTP function: Stripe's webhook (see imagegen.http.routes.webhooks and imagegen.services.payments)."""

from imagegen.bootstrap import http_services
from imagegen.http.api import create_resolver, lambda_entry
from imagegen.http.routes.webhooks import router

app = create_resolver(router)
lambda_handler = lambda_entry(app, http_services)
