"""The bus: one interface, an embedded SQLite log and Kafka."""
