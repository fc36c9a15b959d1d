# Tilt (v0.34.0, built once per machine from its Go module; infra/tools/go-tool.sh tilt) runs the
# Tiltfile: here its local mode, the processes of infra/Procfile.<layout> as local_resources
# under infra/supervise.py; with a Kubernetes context, the images and the local overlay.
# docs/local-stack.md.
.PHONY: tilt-install tilt-up tilt-ci
TEST_AFTER += tilt-ci

tilt-install: ## build Tilt v0.34.0 once into ~/.cache/ordo/tools (about 10 min the first time)
	@infra/tools/go-tool.sh tilt >/dev/null

tilt-up: bootstrap ## run the stack under Tilt (stop `make up`'s services first; Ctrl-C ends it)
	@"$$(infra/tools/go-tool.sh tilt)" up --web-mode=prod --stream

tilt-ci: bootstrap ## `tilt ci` to a green end, and a SIGKILLed process back under Tilt, in a network namespace of its own
	@infra/tilt-ci.sh
