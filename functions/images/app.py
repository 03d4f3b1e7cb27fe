"""HTTP function: the images routes (see imagegen.http.routes.images and .generation)."""

from imagegen.bootstrap import http_services
from imagegen.http.api import create_resolver, lambda_entry
from imagegen.http.routes.generation import router as generation_router
from imagegen.http.routes.images import router

app = create_resolver(router, generation_router)
lambda_handler = lambda_entry(app, http_services)
