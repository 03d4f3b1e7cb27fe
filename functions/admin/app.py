"""HTTP function: the admin routes (see imagegen.http.routes.admin)."""

from imagegen.bootstrap import http_services
from imagegen.http.api import create_resolver, lambda_entry
from imagegen.http.routes.admin import router

app = create_resolver(router)
lambda_handler = lambda_entry(app, http_services)
