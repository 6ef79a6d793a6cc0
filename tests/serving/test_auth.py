"""Every route but liveness and the dashboard's page needs ``Authorization: Bearer <key>``.

Through the whole in-process service app, so BentoML's own routes (``/readyz``, ``/metrics``,
its index and schema pages) are behind the same edge.  Keys never show up in an answer or a
log line.
"""

import logging

import pytest
from serving_requests import API_KEY, AUTH, hand_written_history

from serving.schemas import ErrorBody

SECOND_KEY = "second-key-abcdef"
WRONG_KEY = "wrong-key-9876543210"
KEYS = (API_KEY, SECOND_KEY, WRONG_KEY)
AS_OF = "2024-09-01T00:00:00Z"


def _history() -> dict[str, object]:
    body = hand_written_history()
    body.pop("as_of")
    return body


#: (method, path, a valid body): every keyed route the service answers.
ROUTES = [
    ("POST", "/score", hand_written_history()),
    ("POST", "/score_batch", {"deals": [_history()], "as_of": AS_OF}),
    ("POST", "/rank", {"deals": [_history()], "as_of": AS_OF}),
    ("GET", "/dashboard/ranking", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
    ("GET", "/docs.json", None),
]
IDS = [f"{method} {path}" for method, path, _ in ROUTES]
#: BentoML's own pages and unknown paths: refused before routing.
OTHER_PATHS = ["/", "/schema.json", "/livez", "/nowhere", "/dashboard/nowhere/../ranking",
               "/docs", "/openapi.json"]


def send(client, method: str, path: str, body: object, headers: dict[str, str]):
    if method == "POST":
        return client.post(path, json=body, headers=headers)
    return client.get(path, headers=headers)


def assert_unauthorized(answer) -> None:
    assert answer.status_code == 401, answer.text[:500]
    assert answer.headers["www-authenticate"] == 'Bearer realm="dealrisk"'
    error = ErrorBody.model_validate_json(answer.text)
    assert error.error == "unauthorized"
    assert [(p.field, p.kind) for p in error.problems] == [("header.Authorization",
                                                             "unauthorized")]
    assert_no_key(answer.text)


def assert_no_key(text: str) -> None:
    for key in KEYS:
        assert key not in text


def test_the_spec_lists_no_keyed_route_left_unchecked(client):
    spec = client.get("/docs.json", headers=AUTH).json()
    checked = {(method, path) for method, path, _ in ROUTES}
    keyed = {(method.upper(), path) for path, operations in spec["paths"].items()
             for method, operation in operations.items()
             if operation.get("security", spec["security"]) != []}
    open_ = {path for path, operations in spec["paths"].items()
             for operation in operations.values() if operation.get("security") == []}
    assert keyed <= checked, keyed - checked
    assert open_ == {"/healthz"}
    assert spec["security"] == [{"apiKey": []}]
    assert spec["components"]["securitySchemes"]["apiKey"] == {"type": "http",
                                                               "scheme": "bearer"}


BAD_HEADERS = {
    "none": {},
    "wrong-key": {"Authorization": f"Bearer {WRONG_KEY}"},
    "basic": {"Authorization": f"Basic {API_KEY}"},
    "no-scheme": {"Authorization": API_KEY},
    "empty-bearer": {"Authorization": "Bearer "},
    "key-prefix": {"Authorization": f"Bearer {API_KEY[:-1]}"},
    "key-longer": {"Authorization": f"Bearer {API_KEY}0"},
    "two-keys": {"Authorization": f"Bearer {API_KEY},{SECOND_KEY}"},
    "other-header": {"X-API-Key": API_KEY},
}


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=IDS)
@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_a_keyed_route_refuses_a_missing_or_wrong_key(client, caplog, method, path, body,
                                                      headers):
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        answer = send(client, method, path, body, headers)
    assert_unauthorized(answer)
    lines = [r.getMessage() for r in caplog.records if r.name == "dealrisk.serving"]
    assert lines == [f"{method} {path} -> 401 unauthorized"]
    assert_no_key(caplog.text)


@pytest.mark.parametrize("path", OTHER_PATHS)
def test_bentomls_own_pages_and_unknown_paths_need_a_key(client, path):
    assert_unauthorized(client.get(path))


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=IDS)
@pytest.mark.parametrize("key", [API_KEY, SECOND_KEY], ids=["first-key", "second-key"])
def test_each_configured_key_opens_every_route(client, caplog, method, path, body, key):
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        answer = send(client, method, path, body, {"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text[:500]
    assert "www-authenticate" not in answer.headers
    assert_no_key(answer.text)
    assert_no_key(caplog.text)


def test_the_scheme_is_case_insensitive(client):
    answer = client.post("/score", json=hand_written_history(),
                         headers={"Authorization": f"bearer {SECOND_KEY}"})
    assert answer.status_code == 200, answer.text


def test_liveness_needs_no_key(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert client.get("/healthz", headers={"Authorization": "Bearer nope"}).status_code == 200


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/"])
def test_the_dashboard_page_needs_no_key(client, path):
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert b"<html" in answer.content
    assert_no_key(answer.text)


@pytest.mark.parametrize("asset", ["app.js", "style.css", "plotly.min.js"])
def test_the_dashboards_static_assets_need_no_key(client, asset):
    answer = client.get(f"/dashboard/static/{asset}")
    assert answer.status_code == 200, asset
    assert_no_key(answer.text)


def test_the_dashboards_data_needs_a_key(client):
    assert_unauthorized(client.get("/dashboard/ranking"))
