"""The catalog context: books, authors, subjects, tables of contents, search, the demo catalog."""
