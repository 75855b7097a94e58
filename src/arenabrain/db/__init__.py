"""Database: engine and sessions, the declarative base, timestamps and ids."""
