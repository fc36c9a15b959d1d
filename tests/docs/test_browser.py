"""The docs in a real browser: Debian's chromium driven by playwright-core (tools/docs).

One run of tools/docs/browser_check.mjs against the running gateway visits every page, signs up
a user, uses "try it" on GET /v1/me with its token, and follows a real 422's ``type``; the tests
below assert on its report. Screenshots: build/docs/screenshots/ (git-ignored). Without chromium
or ``npm ci`` the tests skip, except under CI, where ``make test`` installs both and a skip
would hide a broken page.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS_TOOLS = REPO / "tools" / "docs"
SCREENSHOTS = REPO / "build" / "docs" / "screenshots"
GATEWAY = os.environ.get("ORDO_E2E_GATEWAY_URL", "http://127.0.0.1:8000")
CHROMIUM = os.environ.get("ORDO_CHROMIUM", "/usr/bin/chromium")
PAGES = ("start", "api", "events", "errors", "error-page")
METHODS = ("get", "put", "post", "delete", "patch")

pytestmark = pytest.mark.e2e


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"no chromium at {CHROMIUM} (make browser)"
    if not (DOCS_TOOLS / "node_modules" / "playwright-core").is_dir() or not shutil.which("node"):
        return "playwright-core is not installed (make bootstrap: npm ci in tools/docs)"
    return None


@cache
def report() -> dict[str, Any]:
    """The browser check's report: run once per test run, whatever the xdist worker count."""
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"browser tests cannot run under CI: {missing}")
        pytest.skip(missing)
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = SCREENSHOTS.parent / f"browser-report-{run_id}.json"
    with (SCREENSHOTS.parent / "browser.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait for the one that runs it
        if saved.is_file():
            return dict(json.loads(saved.read_text()))
        for old in SCREENSHOTS.parent.glob("browser-report-*.json"):
            old.unlink()
        found = _run_browser_check()
        saved.write_text(json.dumps(found))
        return found


def _run_browser_check() -> dict[str, Any]:
    node = shutil.which("node") or "node"
    result = subprocess.run(  # noqa: S603 - fixed arguments, our own script
        [node, str(DOCS_TOOLS / "browser_check.mjs"), GATEWAY, str(SCREENSHOTS), CHROMIUM],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=DOCS_TOOLS,
    )
    assert result.returncode == 0, f"browser check failed:\n{result.stderr[-3000:]}"
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def contract_operations() -> set[str]:
    """Every operation, and every webhook (Swagger UI lists them by name), of the contract."""
    document = yaml.safe_load((REPO / "contracts/openapi/gateway.v1.yaml").read_text())
    return {
        f"{method} {path}"
        for section in ("paths", "webhooks")
        for path, item in (document.get(section) or {}).items()
        for method in item
        if method in METHODS
    }


def topics() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "contracts" / "asyncapi").glob("*.yaml"):
        for channel in (yaml.safe_load(path.read_text()).get("channels") or {}).values():
            if "address" in channel:
                found.add(channel["address"])
    return found


@pytest.mark.parametrize("page", PAGES)
def test_each_page_loads_cleanly_from_this_host_only(page: str) -> None:
    seen = report()["pages"][page]

    assert seen["status"] == 200
    assert seen["consoleErrors"] == []
    assert seen["foreignRequests"] == []
    assert seen["failedRequests"] == []
    assert "script-src 'self'" in seen["csp"]
    assert (SCREENSHOTS / f"{page}.png").is_file()


def test_the_api_reference_shows_every_operation_of_the_contract() -> None:
    shown = set(report()["pages"]["api"]["operations"])

    assert shown == contract_operations()


def test_try_it_on_get_me_answers_200_with_a_token() -> None:
    run = report()
    api = run["pages"]["api"]

    assert run["signupStatus"] == 201
    assert api["tryItStatus"] == "200"
    assert '"user_id"' in api["tryItBody"]


def test_the_event_catalogue_lists_every_topic() -> None:
    listed = set(report()["pages"]["events"]["topics"])

    assert listed == topics()


def test_a_real_422_type_opens_its_error_page() -> None:
    run = report()

    assert run["problem"]["status"] == 422
    assert run["problem"]["type"].startswith(GATEWAY)
    assert run["pages"]["error-page"]["title"] == run["problem"]["code"]
