"""The images of `make images` run under podman: liveness answers, non-root, read-only root.

The gateway's API role is the process started here: its liveness needs neither PostgreSQL nor
Kafka (``/health/live`` checks only that the event loop runs), so the container stands alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import DATA, FAKE_IMAGE, ROOT, SERVICES_IMAGE, Podman, wait_http

# What a hardened container gets in a cluster (infra/k8s): read-only root, no tmpfs anywhere
# (--read-only-tmpfs=false, so nothing is writable), every capability dropped.
HARDENED = (
    "--read-only",
    "--read-only-tmpfs=false",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
)


def test_service_image_answers_liveness_on_a_read_only_root(podman: Podman, free_port: int) -> None:
    name = podman.start(
        SERVICES_IMAGE,
        *HARDENED,
        "-p",
        f"127.0.0.1:{free_port}:8000",
        "-e",
        "ORDO_HTTP_PORT=8000",
        command=("ordo-gateway-api",),
    )
    answer = wait_http(f"http://127.0.0.1:{free_port}/health/live", podman=podman, name=name)
    assert answer.json() == {"status": "ok"}
    assert podman.run("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name) == "true"


def test_fake_provider_image_answers_liveness_on_a_read_only_root(
    podman: Podman, free_port: int
) -> None:
    name = podman.start(FAKE_IMAGE, *HARDENED, "-p", f"127.0.0.1:{free_port}:8090")
    wait_http(f"http://127.0.0.1:{free_port}/health/live", podman=podman, name=name)


@pytest.mark.parametrize("image", [SERVICES_IMAGE, FAKE_IMAGE])
def test_image_runs_as_a_non_root_user(podman: Podman, image: str) -> None:
    assert podman.run("image", "inspect", "--format", "{{.Config.User}}", image) == "10001:10001"
    ids = podman.run(
        "run",
        "--rm",
        "--network=none",
        image,
        "python3",
        "-c",
        "import os; print(os.getuid(), os.getgid())",
    )
    assert ids == "10001 10001"


@pytest.mark.parametrize("image", [SERVICES_IMAGE, FAKE_IMAGE])
def test_image_has_no_package_manager_or_compiler(podman: Podman, image: str) -> None:
    # `command -v` prints the path of each tool it finds; none may be found.
    found = podman.run(
        "run",
        "--rm",
        "--network=none",
        image,
        "sh",
        "-c",
        "for t in apt apt-get dpkg pip pip3 gcc cc make; do command -v $t; done; "
        "python3 -c 'import pip' 2>/dev/null && echo python-pip; "
        "[ -d /var/lib/dpkg ] && echo /var/lib/dpkg; true",
    )
    assert found == ""


def test_the_command_chooses_the_role(podman: Podman) -> None:
    # Every service's processes are console scripts on the image's PATH.
    listed = podman.run(
        "run", "--rm", "--network=none", SERVICES_IMAGE, "sh", "-c", "ls /app/.venv/bin"
    ).split()
    for service in ("gateway", "identity", "catalog", "orders", "payments", "notifications"):
        assert f"ordo-{service}" in listed
    assert "ordo-orders-relay" in listed


def test_service_image_is_ready_against_the_local_stack(
    podman: Podman, free_port: int, tmp_path: Path
) -> None:
    """The gateway's API in the image, on the host's network, reaches the stack of `make up`.

    Its ``/health/ready`` checks PostgreSQL, Kafka and Redis for real, so a 200 means the
    image's drivers, settings and secret files work, not only its event loop.
    """
    secrets = DATA / "secrets" / "gateway"
    if not secrets.is_dir():
        pytest.fail(f"{secrets} is missing: `make up` first (make test does)")
    # The local secret files are root's and 0600; the image's user reads a copy.
    mounted = tmp_path / "secrets"
    mounted.mkdir()
    for secret in secrets.iterdir():
        copy = mounted / secret.name
        copy.write_bytes(secret.read_bytes())
        copy.chmod(0o644)
    mounted.chmod(0o755)
    name = podman.start(
        SERVICES_IMAGE,
        *HARDENED,
        "--network=host",
        "-v",
        f"{mounted}:/run/secrets:ro",
        "-e",
        f"ORDO_HTTP_PORT={free_port}",
        "-e",
        "ORDO_HTTP_HOST=127.0.0.1",
        command=("ordo-gateway-api",),
    )
    answer = wait_http(f"http://127.0.0.1:{free_port}/health/ready", podman=podman, name=name)
    assert answer.status_code == 200


def test_every_services_migrations_run_from_the_image(podman: Podman) -> None:
    """Migrations are a step of their own (a Job before a rollout): each service's Alembic
    history is in the image and its env.py imports there. Offline (``--sql``): no database."""
    expected = sorted(ini.parent.name for ini in (ROOT / "services").glob("*/alembic.ini"))
    assert expected, "no service has migrations?"
    script = (
        "for ini in /app/services/*/alembic.ini; do d=${ini%/alembic.ini}; "
        'cd "$d" && alembic -c alembic.ini upgrade head --sql | grep -q "CREATE TABLE" '
        '&& echo "${d##*/}" || { echo "failed: $d" >&2; exit 1; }; done'
    )
    migrated = podman.run(
        "run", "--rm", *HARDENED, "--network=none", SERVICES_IMAGE, "sh", "-c", script
    )
    assert sorted(migrated.split()) == expected
