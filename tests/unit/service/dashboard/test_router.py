"""The dashboard's files are served from the package with a strict CSP, and nothing else is."""

from __future__ import annotations

import re
import warnings

import pytest

from tests.optional import require

require("fastapi")

from fastapi import FastAPI  # noqa: E402

with warnings.catch_warnings():  # starlette >= 1.x asks for httpx2 and warns about httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from neo.service.dashboard import ASSETS, dashboard_router  # noqa: E402


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.include_router(dashboard_router())
    return TestClient(app)


def test_the_page_and_every_asset_it_names_are_served(client: TestClient) -> None:
    page = client.get("/dashboard/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    named = set(re.findall(r'(?:src|href)="([^"]+)"', page.text))
    imported = set()
    for name in ASSETS:
        response = client.get(f"/dashboard/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == ASSETS[name]
        assert response.headers["x-content-type-options"] == "nosniff"
        if name.endswith(".js"):
            imported |= set(re.findall(r'from "\./([^"]+)"', response.text))
    assert named | imported <= set(ASSETS)  # every file the page loads is shipped
    assert {"app.js", "style.css", "favicon.svg"} <= named


def test_no_asset_reaches_outside_this_origin(client: TestClient) -> None:
    for name in ASSETS:
        text = client.get(f"/dashboard/{name}").text
        urls = re.findall(r"https?://[^\s\"')]+", text)
        assert urls in ([], ["http://www.w3.org/2000/svg"]), (name, urls)
        assert "<script>" not in text and " on" + "click=" not in text  # nothing inline


def test_other_paths_are_a_problem_404_and_never_the_file_system(client: TestClient) -> None:
    for path in ("/dashboard/routes.py", "/dashboard/x.js", "/dashboard/static"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    for path in ("/dashboard/..%2F__init__.py", "/dashboard/static/app.js"):
        response = client.get(path)
        assert response.status_code == 404 and "import" not in response.text
    redirect = client.get("/dashboard", follow_redirects=False)
    assert redirect.status_code == 308 and redirect.headers["location"] == "/dashboard/"


def test_the_dashboard_is_not_part_of_the_api_schema(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert not any(path.startswith("/dashboard") for path in paths)
