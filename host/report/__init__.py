"""Results for people: console tables, Markdown, CSV, JSON and HTML."""
