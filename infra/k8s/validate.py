"""Build every overlay of infra/k8s with kustomize and validate each resource offline.

- Kubernetes kinds: against the pinned release's schemas (``kubernetes-validate``, strict: an
  unknown field is an error, as with ``kubectl apply --validate=strict``).
- Custom resources (Strimzi ``KafkaTopic``, ``ExternalSecret``): against the
  ``openAPIV3Schema`` of their CRD in crds/, turned into JSON Schema the way the API server
  reads it (nullable, int-or-string, unknown fields refused unless preserved).
- Any other kind is an error: nothing passes without a schema.

Usage: ``python infra/k8s/validate.py --kustomize PATH [--kubernetes 1.35.0] [OVERLAY...]``;
exits 1 on any finding. tests/k8s imports :func:`build` for its own checks.
"""

from __future__ import annotations

import argparse
import functools

# Runs the pinned kustomize binary on our own overlays, with a fixed argv and no shell.
import subprocess  # nosec B404
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import yaml

HERE = Path(__file__).resolve().parent
OVERLAYS = ("local", "production")
KUBERNETES = "1.35.0"


def build(kustomize: str, overlay: str) -> list[dict[str, Any]]:
    """The resources ``kustomize build overlays/<overlay>`` gives."""
    out = subprocess.run(  # noqa: S603  # nosec B603
        [kustomize, "build", str(HERE / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


# -- custom resources -------------------------------------------------------------------------


def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the JSON Schema of every served version of the CRDs in crds/."""
    schemas = {}
    for path in sorted((HERE / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = _structural(version["schema"]["openAPIV3Schema"])
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    # OpenAPI v3 as the API server reads a CRD schema, in JSON Schema terms.
    schema = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-")}
    schema.pop("nullable", None)
    if "properties" in schema:
        schema["properties"] = {k: _structural(v) for k, v in schema["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _structural(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [_structural(s) for s in schema[key]]
    if node.get("x-kubernetes-int-or-string"):
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    # The server drops (strict validation: refuses) fields the schema does not declare.
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    return schema


# -- all resources ----------------------------------------------------------------------------


def findings(resources: list[dict[str, Any]], kubernetes: str = KUBERNETES) -> Iterator[str]:
    """One line per resource that does not validate (or has no schema to validate against)."""
    crds = _crd_schemas()
    _memoize_schema_files()
    for resource in resources:
        name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
        key = (resource.get("apiVersion", ""), resource.get("kind", ""))
        if key in crds:
            for error in jsonschema.Draft4Validator(crds[key]).iter_errors(resource):
                path = ".".join(str(p) for p in error.absolute_path)
                yield f"{name}: {path}: {error.message}"
            continue
        try:
            kubernetes_validate.validate(resource, kubernetes, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            yield f"{name}: {path}: {error.message}"
        except kubernetes_validate.SchemaNotFoundError as error:
            yield f"{name}: no schema: {error.message}"


def _memoize_schema_files() -> None:
    # kubernetes-validate parses its schema files (the definitions are megabytes) again for
    # every resource; read each once: a fifth of the time for an overlay.
    utils = kubernetes_validate.utils
    if not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = functools.cache(utils.schema_contents)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kustomize", required=True, help="the pinned kustomize binary")
    parser.add_argument("--kubernetes", default=KUBERNETES, help="Kubernetes release's schemas")
    parser.add_argument("overlays", nargs="*", default=list(OVERLAYS))
    args = parser.parse_args(argv)
    failed = 0
    for overlay in args.overlays:
        resources = build(args.kustomize, overlay)
        problems = list(findings(resources, args.kubernetes))
        for problem in problems:
            print(f"k8s-check: {overlay}: {problem}", file=sys.stderr)
        failed += len(problems)
        status = "ok" if not problems else f"{len(problems)} finding(s)"
        print(
            f"k8s-check: overlays/{overlay}: {len(resources)} resources, "
            f"Kubernetes {args.kubernetes} schemas + CRDs (strict): {status}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
