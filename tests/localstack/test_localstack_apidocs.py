"""API docs on the local stack, over real HTTP: /openapi.json, the Swagger UI page at /docs and its
assets, and /_local/token (the real sign-in through the Google stand-in).

The application's own template and docs/openapi.json; the /docs page is built by the web app's build
script (frontend/scripts/docs-page.mjs, what ``npm run build`` runs) into a temporary folder.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localstack.conftest import ROOT, RunningStack, start_stack

pytestmark = pytest.mark.e2e

FRONTEND = ROOT / "frontend"


def build_docs_page(out: Path) -> None:
    node = shutil.which("node")
    if node is None or not (FRONTEND / "node_modules" / "swagger-ui-dist").is_dir():
        pytest.skip("the /docs page needs node and the web app's packages (make frontend-deps)")
    subprocess.run([node, "scripts/docs-page.mjs", str(out)], cwd=FRONTEND, check=True, capture_output=True)


@pytest.fixture(scope="module")
def app_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    tmp = tmp_path_factory.mktemp("apidocs")
    build_docs_page(tmp / "dist")
    running = start_stack(
        tmp,
        template=ROOT / "template.yaml",
        extra_args=["--frontend-dist", str(tmp / "dist")],
        env={"ADMIN_EMAILS": "admin@example.com"},
    )
    yield running
    assert running.stop() == 0, running.output()


def test_openapi_json_is_the_committed_document_pointing_at_this_stack(app_stack: RunningStack) -> None:
    reply = app_stack.get("/openapi.json")
    assert reply.status == 200
    assert (reply.header("content-type") or "").startswith("application/json")
    served = reply.json()
    assert served["servers"] == [{"url": app_stack.url, "description": "this local stack"}]
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert {**served, "servers": None} == {**committed, "servers": None}
    # the bearer scheme Swagger UI's Authorize dialog offers, required by the signed-in routes
    assert served["components"]["securitySchemes"]["session"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert served["paths"]["/me"]["get"]["security"] == [{"session": []}]
    assert served["paths"]["/health"]["get"]["security"] == []


def test_docs_page_loads_only_local_assets_which_are_served(app_stack: RunningStack) -> None:
    for path in ("/docs", "/docs/"):
        reply = app_stack.get(path, headers={"Accept": "text/html"})
        assert reply.status == 200, path
        assert (reply.header("content-type") or "").startswith("text/html")
    page = reply.body.decode()
    assert "/_local/token" in page  # how to get a token
    references = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/docs/swagger-ui-bundle.js" in references
    assert "/docs/swagger-ui.css" in references
    assert "/openapi.json" in references
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), f"not local: {reference}"
        asset = app_stack.get(reference)
        assert asset.status == 200, reference
        assert asset.body, reference
    script = app_stack.get("/docs/docs.js").body.decode()
    assert "'/openapi.json'" in script and "/_local/token" in script
    assert "http://" not in script and "https://" not in script
    bundle = app_stack.get("/docs/swagger-ui-bundle.js")
    assert (bundle.header("content-type") or "").startswith(("text/javascript", "application/javascript"))


def test_token_helper_signs_in_and_the_token_works(app_stack: RunningStack) -> None:
    reply = app_stack.get("/_local/token?email=Docs.Reader@example.com")
    assert reply.status == 200, reply.body
    signed_in = reply.json()
    assert signed_in["user"]["email"] == "docs.reader@example.com"
    me = app_stack.get("/me", headers={"Authorization": f"Bearer {signed_in['token']}"})
    assert me.status == 200, me.body
    assert me.json()["email"] == "docs.reader@example.com"
    # the same user on a second request
    again = app_stack.get("/_local/token?email=docs.reader@example.com").json()
    assert again["user"]["id"] == signed_in["user"]["id"]


def test_token_helper_refuses_what_it_cannot_sign_in(app_stack: RunningStack) -> None:
    missing = app_stack.get("/_local/token")
    assert missing.status == 400 and missing.json()["code"] == "validation_error"
    assert app_stack.get("/_local/token?email=not-an-email").status == 400
    assert app_stack.call("POST", "/_local/token?email=a@example.com").status == 405


def test_without_a_document_or_a_built_page(stack: RunningStack) -> None:
    """The fixture application: no docs/openapi.json next to its template, a web app without the docs
    page, no sign-in routes."""
    assert stack.get("/openapi.json").status == 404
    docs = stack.get("/docs", headers={"Accept": "text/html"})
    assert docs.status == 404
    assert "make frontend" in docs.json()["detail"]
    token = stack.get("/_local/token?email=a@example.com")
    assert token.status == 404
    assert "/auth/google/login" in token.json()["detail"]
