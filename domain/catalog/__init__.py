"""The catalog context: books, authors, subjects, tables of contents, search and the demo catalog."""
