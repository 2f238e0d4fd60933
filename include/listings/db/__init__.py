"""Database access: engine, tables (SQLAlchemy Core), migrations and the project-local PostgreSQL."""
