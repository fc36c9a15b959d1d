# Container images (infra/images, docs/images.md): built with podman on a Debian base made by
# debootstrap; the chassis integration tests run once more against containers (testcontainers).

images: ## build every image with podman: Debian base (once), services, fake provider, test servers
	@infra/images/build.sh all

images-services: ## rebuild only the services' and the fake provider's images
	@infra/images/build.sh services fake

test-containers: bootstrap ## chassis integration tests against PostgreSQL/Redis/Kafka containers (testcontainers over podman)
	@UV=$(UV) infra/images/test-containers.sh

TEST_GATES += images
TEST_AFTER += test-containers
