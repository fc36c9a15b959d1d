# Go tools built once per machine from the Go module proxy (pins: infra/tools/go-tools.txt).
.PHONY: go-tools
go-tools: ## build (once, into ~/.cache/ordo/tools) every pinned Go tool
	@awk '!/^#/ && NF {print $$1}' infra/tools/go-tools.txt | while read -r t; do infra/tools/go-tool.sh "$$t" >/dev/null; done
