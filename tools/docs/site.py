"""Build the docs the gateway serves under /docs into tools/docs/site/ (committed).

- ``errors/<code>.html`` and ``errors/index.html``: one page per error code, from the error
  tree (errors_catalog.py);
- ``events.html``: the event catalogue, from contracts/asyncapi (events_catalog.py);
- ``index.html`` (the start page) and ``api.html`` (the Swagger UI shell), from pages/.

``python tools/docs/site.py`` writes them; ``--check`` fails when the committed files differ
from what the sources give (``make docs-check``, and tests/docs). Pages load only /docs assets:
one stylesheet, and scripts only on the API reference (no inline script or style, so the docs'
Content-Security-Policy can stay ``'self'``).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import errors_catalog  # noqa: E402
import events_catalog  # noqa: E402

SITE = HERE / "site"
PAGES = HERE / "pages"
_CODE_SPAN = re.compile(r"`([^`]+)`")
_NAV = (
    ("/docs/", "Start"),
    ("/docs", "API reference"),
    ("/docs/events", "Events"),
    ("/docs/errors/", "Errors"),
)


def esc(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text), quote=True)


def prose(text: str) -> str:
    """Plain text with `code` spans, as paragraphs (blank lines) and line breaks."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for paragraph in paragraphs:
        body = _CODE_SPAN.sub(r"<code>\1</code>", esc(paragraph))
        out.append(f"<p>{body.replace(chr(10), '<br>')}</p>")
    return "\n".join(out)


def layout(
    title: str,
    body: str,
    *,
    scripts: Iterable[str] = (),
    styles: Iterable[str] = (),
    app: str = "",
) -> str:
    """A whole page: head, the docs' navigation, ``body`` (styled prose), then ``app`` (a
    renderer's root element, which keeps its own styles)."""
    links = "".join(f'<link rel="stylesheet" href="{esc(s)}">' for s in styles)
    tags = "".join(f'<script src="{esc(s)}" defer></script>' for s in scripts)
    nav = " ".join(f'<a href="{href}">{esc(label)}</a>' for href, label in _NAV)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)} · Ordo docs</title>\n"
        '<link rel="icon" href="/docs/static/favicon.svg" type="image/svg+xml">\n'
        f'<link rel="stylesheet" href="/docs/static/docs.css">{links}{tags}\n</head>\n<body>\n'
        f"<header><strong>Ordo</strong> <nav>{nav}</nav></header>\n"
        f'<main>\n<div class="prose">\n{body}\n</div>{app}\n</main>\n'
        "<footer>Generated from the error tree and contracts/ by tools/docs/site.py.</footer>\n"
        "</body>\n</html>\n"
    )


# -- errors ---------------------------------------------------------------------------------------


def error_page(doc: errors_catalog.ErrorDoc) -> str:
    """The page a problem's ``type`` points at."""
    raisers = []
    for raiser in doc.raisers:
        text = raiser.doc or raiser.message
        message = f"<p>Default detail: <q>{esc(raiser.message)}</q></p>" if raiser.message else ""
        raisers.append(
            f"<li><code>{esc(raiser.module)}.{esc(raiser.name)}</code>{prose(text)}{message}</li>"
        )
    where = "Consumers (dead-letter headers)" if doc.messaging_only else f"HTTP {doc.status}"
    body = (
        f'<h1 id="code"><code>{esc(doc.code)}</code></h1>\n'
        f'<p class="status">{esc(where)} {esc(doc.title)} · from {esc(doc.service)}</p>\n'
        "<h2>What it means and when it happens</h2>\n"
        f'<ul class="raisers">{"".join(raisers)}</ul>\n'
        f'<h2>What to do</h2>\n<div class="advice">{prose(errors_catalog.advice(doc))}</div>\n'
        "<h2>The problem you get</h2>\n"
        f"<pre>{esc(json.dumps(_example(doc), indent=2))}</pre>\n"
        '<p><a href="/docs/errors/">Every error code</a></p>'
    )
    return layout(doc.code, body)


def _example(doc: errors_catalog.ErrorDoc) -> dict[str, Any]:
    return {
        "type": f"<ORDO_ERRORS_BASE_URL>{doc.code}",
        "title": doc.title,
        "status": doc.status,
        "code": doc.code,
        "detail": next((r.message for r in doc.raisers if r.message), doc.title),
        "instance": "/v1/...",
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "requestId": "0193...",
    }


def errors_index(docs: list[errors_catalog.ErrorDoc]) -> str:
    """Every code, with its status and first line."""
    rows = []
    for doc in docs:
        first = next((r.doc or r.message for r in doc.raisers), "").split("\n\n")[0]
        meaning = _CODE_SPAN.sub(r"<code>\1</code>", esc(first))
        rows.append(
            f'<tr><td><a href="/docs/errors/{esc(doc.code)}"><code>{esc(doc.code)}</code></a></td>'
            f"<td>{doc.status}</td><td>{esc(doc.service)}</td>"
            f"<td>{meaning}</td></tr>"
        )
    body = (
        "<h1>Error codes</h1>\n"
        "<p>Every error is an <code>application/problem+json</code> body whose <code>type</code> "
        "is the URL of its page here, and whose <code>code</code> is stable: branch on "
        "<code>code</code>, show <code>detail</code>, quote <code>requestId</code>.</p>\n"
        '<table class="codes"><thead><tr><th>code</th><th>status</th><th>from</th>'
        f"<th>meaning</th></tr></thead>\n<tbody>{''.join(rows)}</tbody></table>"
    )
    return layout("Error codes", body)


# -- events ---------------------------------------------------------------------------------------


def _json_block(label: str, value: Any, *, open_: bool = False) -> str:
    if value is None:
        return ""
    attr = " open" if open_ else ""
    return (
        f"<details{attr}><summary>{esc(label)}</summary>"
        f"<pre>{esc(json.dumps(value, indent=2, ensure_ascii=False))}</pre></details>"
    )


def _header_rows(headers: Any) -> str:
    merged: dict[str, Any] = {}
    required: set[str] = set()
    for part in (headers or {}).get("allOf", [headers or {}]):
        merged.update(part.get("properties") or {})
        required.update(part.get("required") or [])
    rows = []
    for name, schema in merged.items():
        value = schema.get("const", schema.get("format", schema.get("type", "")))
        rows.append(
            f"<tr><td><code>{esc(name)}</code></td><td>{'yes' if name in required else ''}</td>"
            f"<td><code>{esc(value)}</code></td><td>{esc(schema.get('description', ''))}</td></tr>"
        )
    return (
        '<table class="headers"><thead><tr><th>header</th><th>required</th><th>value</th>'
        f"<th>meaning</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _type_of(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    kind = schema.get("type", "object" if "properties" in schema else "")
    if kind == "array":
        return f"array of {_type_of(schema.get('items') or {})}"
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind or "any")


def _payload_rows(payload: Any) -> str:
    """The payload's fields, one level deep (the full schema is below it)."""
    if not isinstance(payload, dict) or not payload.get("properties"):
        return ""
    required = set(payload.get("required") or [])
    rows = "".join(
        f"<tr><td><code>{esc(name)}</code></td><td>{'yes' if name in required else ''}</td>"
        f"<td><code>{esc(_type_of(schema))}</code></td>"
        f"<td>{esc(schema.get('description', ''))}</td></tr>"
        for name, schema in payload["properties"].items()
    )
    return (
        '<h4>Payload</h4><table class="payload"><thead><tr><th>field</th><th>required</th>'
        f"<th>type</th><th>meaning</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _message(topic: str, message: events_catalog.Message) -> str:
    anchor = f"{topic}--{message.name}"
    key = message.key or {}
    key_text = key.get("description") or key.get("format") or key.get("type") or "none"
    ce_type = f"<p>CloudEvents type: <code>{esc(message.ce_type)}</code></p>"
    examples = "".join(
        _json_block(f"Example: {example.get('name', '')}", example, open_=index == 0)
        for index, example in enumerate(message.examples)
    )
    return (
        f'<section class="message" id="{esc(anchor)}">\n'
        f"<h3><code>{esc(message.name)}</code> {esc(message.title)}</h3>\n"
        f"{prose(message.summary)}{prose(message.description)}\n"
        + (ce_type if message.ce_type else "")
        + f"<p>Key: {esc(key_text)}</p>\n<h4>Headers</h4>{_header_rows(message.headers)}\n"
        + _payload_rows(message.payload)
        + _json_block("Payload schema", message.payload)
        + _json_block("Key schema", message.key)
        + examples
        + "\n</section>"
    )


def events_page(topics: list[events_catalog.Topic]) -> str:
    """The event catalogue: a table of topics, then each topic with its messages."""
    index = "".join(
        f'<tr><td><a href="#{esc(t.address)}"><code>{esc(t.address)}</code></a></td>'
        f"<td>{esc(t.partitions or '')}</td><td>{esc(t.title)}</td>"
        f"<td>{', '.join(f'<code>{esc(m.name)}</code>' for m in t.messages)}</td></tr>"
        for t in topics
    )
    sections = []
    for topic in topics:
        config = ", ".join(f"{esc(k)}={esc(v)}" for k, v in topic.config.items())
        who = "".join(f"<li>sends: {esc(s)}</li>" for s in topic.senders) + "".join(
            f"<li>receives: {esc(r)}</li>" for r in topic.receivers
        )
        sections.append(
            f'<section class="topic" id="{esc(topic.address)}">\n'
            f'<h2 class="topic-name"><code>{esc(topic.address)}</code></h2>\n'
            f"<p><strong>{esc(topic.title)}</strong></p>{prose(topic.description)}\n"
            + (f"<p>Partitions: {esc(topic.partitions)}; {config}</p>" if topic.partitions else "")
            + f"<ul>{who}</ul>\n"
            + "\n".join(_message(topic.address, m) for m in topic.messages)
            + "\n</section>"
        )
    body = (
        "<h1>Event catalogue</h1>\n"
        "<p>Every Kafka topic, message, header, key and example of <code>contracts/asyncapi/"
        "</code> (AsyncAPI 3.0). Records are CloudEvents in binary mode: the value is the JSON "
        "payload, attributes are <code>ce_*</code> headers, trace context is "
        "<code>traceparent</code>.</p>\n"
        '<table class="topics"><thead><tr><th>topic</th><th>partitions</th><th>what</th>'
        f"<th>messages</th></tr></thead><tbody>{index}</tbody></table>\n" + "\n".join(sections)
    )
    return layout("Event catalogue", body)


# -- the site -------------------------------------------------------------------------------------


def render() -> dict[str, str]:
    """Every generated file of the site, by path relative to site/."""
    docs = errors_catalog.catalog()
    files = {f"errors/{doc.code}.html": error_page(doc) for doc in docs}
    files["errors/index.html"] = errors_index(docs)
    files["events.html"] = events_page(events_catalog.topics())
    files["index.html"] = layout("Start", (PAGES / "start.html").read_text(encoding="utf-8"))
    files["api.html"] = layout(
        "API reference",
        (PAGES / "api.html").read_text(encoding="utf-8"),
        app='<div id="swagger-ui" data-spec="/v1/openapi.json"></div>',
        scripts=("/docs/assets/swagger-ui/swagger-ui-bundle.js", "/docs/static/api.js"),
        styles=("/docs/assets/swagger-ui/swagger-ui.css",),
    )
    return files


def generated_on_disk() -> set[str]:
    """The generated files now in site/ (static/ is written by hand)."""
    return {
        str(path.relative_to(SITE))
        for path in SITE.rglob("*.html")
        if path.relative_to(SITE).parts[0] != "static"
    }


def differences(files: dict[str, str]) -> list[str]:
    """Paths whose committed content differs from ``files`` (missing, changed or extra)."""
    changed = [
        name
        for name, text in files.items()
        if not (SITE / name).is_file() or (SITE / name).read_text(encoding="utf-8") != text
    ]
    return sorted(changed + sorted(generated_on_disk() - files.keys()))


def main() -> int:
    """Write the site, or with ``--check`` report how it drifted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if site/ is out of date")
    args = parser.parse_args()
    files = render()
    drift = differences(files)
    if args.check:
        if drift:
            print("tools/docs/site is out of date (run `make docs`):", *drift, sep="\n  ")
            return 1
        return 0
    for name in generated_on_disk() - files.keys():
        (SITE / name).unlink()
    for name, text in files.items():
        (SITE / name).parent.mkdir(parents=True, exist_ok=True)
        (SITE / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {SITE.relative_to(HERE.parents[1])} ({len(drift)} changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
