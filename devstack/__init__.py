"""Run the Compose services as local processes: `make run` and the process tests use this.

Commands come from docker-compose.yml (merged with docker-compose.override.yml, as `docker compose
up` does), so what runs locally is what runs in containers.
"""
