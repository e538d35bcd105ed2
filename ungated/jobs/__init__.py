"""The studio's durable side: the store (SQLAlchemy + Alembic), the queue and the worker processes."""
