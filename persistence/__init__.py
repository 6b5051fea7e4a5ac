"""Everything SQL: tables, migrations, queries, the unit of work and the event rows."""
