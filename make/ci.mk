# CI around `.ci/run`: the GitHub Actions workflow (.github/workflows/ci.yml) and the
# dependency audit it runs.
.PHONY: actionlint audit
TEST_GATES += actionlint

actionlint: ## check .github/workflows with actionlint (pinned, built once)
	@"$$(infra/tools/go-tool.sh actionlint)" -no-color .github/workflows/*.yml && echo "actionlint: .github/workflows ok"

audit: bootstrap ## known vulnerabilities in uv.lock and tools/' npm locks; says "skipped: no advisory source" when none answers
	@UV=$(UV) .github/scripts/audit.sh
