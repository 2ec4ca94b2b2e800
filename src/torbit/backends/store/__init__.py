"""The SQL store (SQLite or PostgreSQL): `sql.SqlStore` implements torbit.core.ports.Store;
`migrate.upgrade` / `migrate.current_revision` serve `torbit db upgrade` / `torbit db status`.
Nothing is imported here, so that choosing another backend never loads SQLAlchemy."""
