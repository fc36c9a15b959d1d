# Traces: Jaeger (v2 all-in-one, built once per machine from its Go module) on loopback; every
# Ordo process of the local stack exports OTLP to it (docs/tracing.md).
.PHONY: jaeger-up jaeger-down jaeger-status
INFRA_UP += jaeger-up
INFRA_DOWN += jaeger-down
STATUS += jaeger-status

jaeger-up: ## build (once) and start Jaeger: OTLP in on :14318, query API on :16686
	@infra/jaeger/ctl.sh up

jaeger-down: ## stop Jaeger (its traces are in memory: they are gone)
	@infra/jaeger/ctl.sh stop

jaeger-status: ## whether Jaeger runs, and where
	@infra/jaeger/ctl.sh status
