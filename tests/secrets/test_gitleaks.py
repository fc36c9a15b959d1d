"""The secret scanner (`make secrets`) catches a planted secret, and its baseline works.

Secrets are assembled at run time from random parts, so this file holds none for the scanner
of the repository itself to find.
"""

from __future__ import annotations

import base64
import json
import random
import string
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".gitleaks.toml"


@pytest.fixture(scope="module")
def gitleaks() -> str:
    built = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(REPO / "infra/tools/go-tool.sh"), "gitleaks"],
        capture_output=True,
        text=True,
        check=True,
    )
    return built.stdout.strip()


def _aws_access_key() -> str:
    rng = random.SystemRandom()
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def _private_key() -> str:
    body = base64.b64encode(random.SystemRandom().randbytes(600)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    dashes = "-" * 5
    return "\n".join(
        [f"{dashes}BEGIN {'PRIVATE'} KEY{dashes}", *lines, f"{dashes}END {'PRIVATE'} KEY{dashes}"]
    )


def _scan(gitleaks: str, mode: str, target: Path, *extra: str) -> tuple[int, list[dict]]:
    report = target.parent / f"{target.name}-report.json"
    result = subprocess.run(  # noqa: S603 - the pinned scanner on a temp dir
        [gitleaks, mode, "--no-banner", "--config", str(CONFIG), "--report-format", "json"]
        + ["--report-path", str(report), *extra, str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, json.loads(report.read_text() or "[]")


def test_a_planted_secret_in_a_file_is_caught(gitleaks: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "settings.py").write_text(f'AWS_ACCESS_KEY_ID = "{_aws_access_key()}"\n')
    (src / "deploy.pem").write_text(_private_key() + "\n")
    code, findings = _scan(gitleaks, "dir", src)
    assert code == 1
    assert {(Path(f["File"]).name, f["RuleID"]) for f in findings} == {
        ("settings.py", "aws-access-token"),
        ("deploy.pem", "private-key"),
    }


def test_a_tree_without_secrets_passes(gitleaks: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "settings.py").write_text('DATABASE_HOST = "127.0.0.1"\nPOOL_SIZE = 10\n')
    assert _scan(gitleaks, "dir", src) == (0, [])


def _git(repo: Path, *args: str) -> None:
    subprocess.run(  # noqa: S603 - git on a temp repository
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],  # noqa: S607
        check=True,
        capture_output=True,
    )


def test_a_reviewed_finding_in_the_baseline_no_longer_fails(gitleaks: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "config.py").write_text(f'KEY = "{_aws_access_key()}"\n')
    _git(repo, "add", "config.py")
    _git(repo, "commit", "-q", "-m", "planted")
    code, findings = _scan(gitleaks, "git", repo)
    assert code == 1
    assert [f["RuleID"] for f in findings] == ["aws-access-token"]
    baseline = tmp_path / "baseline"
    baseline.write_text("# reviewed\n" + findings[0]["Fingerprint"] + "\n")
    assert _scan(gitleaks, "git", repo, "--gitleaks-ignore-path", str(baseline)) == (0, [])
