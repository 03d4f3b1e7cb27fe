"""HTTP function: the images routes and their collections (imagegen.http.routes.images, .collections)."""

from imagegen.bootstrap import http_services
from imagegen.http.api import create_resolver, lambda_entry
from imagegen.http.routes.collections import router as collections_router
from imagegen.http.routes.images import router

app = create_resolver(router, collections_router)
lambda_handler = lambda_entry(app, http_services)
