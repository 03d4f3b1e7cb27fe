"""HTTP function: the admin routes (see imagegen.http.routes.admin)."""

from imagegen.bootstrap import http_services
from imagegen.http.api import create_resolver, lambda_entry
from imagegen.http.routes.admin import router
from imagegen.http.routes.shop import admin_router as purchases_router

app = create_resolver(router, purchases_router)
lambda_handler = lambda_entry(app, http_services)
