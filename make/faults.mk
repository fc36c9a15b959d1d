# Hostile input and hard faults (issue 11 items 6-8): schemathesis over the running gateway,
# fault suites and a soak, each in a stack of its own where it may break things
# (tests/faults/in-netns.sh: a network namespace, ORDO_DATA=.data/<suite>). docs/faults.md.
.PHONY: contracts-fuzz

SCHEMATHESIS_ARGS ?=

contracts-fuzz: bootstrap ## schemathesis, every phase, against the running gateway with a real token (SCHEMATHESIS_ARGS="--max-time 60")
	$(UV) run --frozen python tests/schemathesis/run.py $(SCHEMATHESIS_ARGS)

TEST_GATES += contracts-fuzz
