"""Interop: imports, exports, data rights and KOReader sync."""
