"""HTTP function: the images routes, their generation options and their collections
(imagegen.http.routes.images, .generation, .collections)."""

from imagegen.bootstrap import http_services
from imagegen.http.api import create_resolver, lambda_entry
from imagegen.http.routes.collections import router as collections_router
from imagegen.http.routes.generation import router as generation_router
from imagegen.http.routes.images import router

app = create_resolver(router, generation_router, collections_router)
lambda_handler = lambda_entry(app, http_services)
