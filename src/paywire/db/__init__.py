"""The database: models, engine and sessions, migrations, and one repository per table."""
