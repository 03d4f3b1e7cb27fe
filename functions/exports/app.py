"""HTTP function: the exports routes (see imagegen.http.routes.exports)."""

from imagegen.bootstrap import http_services
from imagegen.http.api import create_resolver, lambda_entry
from imagegen.http.routes.exports import router

app = create_resolver(router)
lambda_handler = lambda_entry(app, http_services)
