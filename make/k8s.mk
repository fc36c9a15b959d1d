# Kubernetes manifests (infra/k8s, docs/deploy.md): built with the pinned kustomize and
# validated offline in `make test`.
.PHONY: k8s-check k8s-topics k8s-build
TEST_GATES += k8s-check

k8s-check: bootstrap ## build every infra/k8s overlay (kustomize v5.8.2), validate offline (Kubernetes 1.35 + CRDs), topics in sync
	@$(UV) run --frozen python infra/k8s/topics.py --check
	@$(UV) run --frozen python infra/k8s/validate.py --kustomize "$$(infra/tools/go-tool.sh kustomize)"

k8s-topics: bootstrap ## regenerate infra/k8s's KafkaTopics and local topics Job from infra/kafka/topics.toml
	$(UV) run --frozen python infra/k8s/topics.py

k8s-build: ## print the manifests of an overlay (OVERLAY=local|production)
	@"$$(infra/tools/go-tool.sh kustomize)" build infra/k8s/overlays/$(or $(OVERLAY),local)

# Expand/contract, for real: the previous release's code on the new schema (docs/deploy.md).
.PHONY: schema-compat
TEST_AFTER += schema-compat

schema-compat: ## the previous release of a service (SERVICE=payments) runs its DB tests on the new migrations
	@UV=$(UV) infra/k8s/schema_compat.sh
