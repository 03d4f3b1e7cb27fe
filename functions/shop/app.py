"""HTTP function: the coin shop's routes (see imagegen.http.routes.shop)."""

from imagegen.bootstrap import http_services
from imagegen.http.api import create_resolver, lambda_entry
from imagegen.http.routes.shop import router

app = create_resolver(router)
lambda_handler = lambda_entry(app, http_services)
