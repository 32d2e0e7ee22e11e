"""The whatsapp app on the dev setup's containers (`make test-compose`: tests/compose/fixtures.py
holds their fixtures)."""
