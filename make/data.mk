# Data protection (issue 15): the PII catalogue, the secret scanner, backups and the restore drill.
.PHONY: pii pii-check secrets backup restore-drill

pii: bootstrap ## regenerate docs/pii.md from the PII marks (table columns, x-pii in contracts)
	$(UV) run --frozen python tools/pii/pii_catalogue.py

pii-check: bootstrap ## fail if a column, table or contract field is unclassified, or docs/pii.md is stale
	$(UV) run --frozen python tools/pii/pii_catalogue.py --check

secrets: ## scan the repository's history for secrets (gitleaks, pinned; baseline .gitleaksignore)
	@gl="$$(infra/tools/go-tool.sh gitleaks)" && "$$gl" git --no-banner --redact \
	  --config .gitleaks.toml --gitleaks-ignore-path .gitleaksignore --exit-code 1 .

TEST_GATES += pii-check secrets

backup: ## back up the local PostgreSQL: roles + one pg_dump per service database (.data/backups)
	@infra/backup/backup.sh

restore-drill: bootstrap ## restore the latest backup into a scratch cluster (port 25432), check migrations and invariants, print RPO/RTO
	$(UV) run --frozen python infra/backup/drill.py
