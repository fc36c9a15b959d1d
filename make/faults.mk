# Hostile input and hard faults (issue 11 items 6-8): schemathesis over the running gateway,
# fault suites and a soak, each in a stack of its own where it may break things
# (tests/faults/in-netns.sh: a network namespace, ORDO_DATA=.data/<suite>). docs/faults.md.
.PHONY: contracts-fuzz test-faults soak

SCHEMATHESIS_ARGS ?=
FAULTS_ARGS ?=
SOAK_ARGS ?=

contracts-fuzz: bootstrap ## schemathesis, every phase, against the running gateway with a real token (SCHEMATHESIS_ARGS="--max-time 60")
	$(UV) run --frozen python tests/schemathesis/run.py $(SCHEMATHESIS_ARGS)

test-faults: bootstrap ## kill -9, server restarts, a lossy and a slow broker under saga load, in a stack of its own; invariants after each (FAULTS_ARGS="--only kill9")
	@tests/faults/ensure-tools.sh
	@tests/faults/in-netns.sh ordo-faults $(CURDIR)/.data/faults $(UV) run --frozen python tests/faults/run.py $(FAULTS_ARGS)

soak: bootstrap ## 30 min at half of capacity in a stack of its own: RSS, p99 and table growth must stay flat (SOAK_ARGS="--minutes 10")
	@tests/faults/ensure-tools.sh
	@tests/faults/in-netns.sh ordo-soak $(CURDIR)/.data/soak $(UV) run --frozen python bench/soak/run.py $(SOAK_ARGS)

TEST_GATES += contracts-fuzz
TEST_AFTER += test-faults
