"""Catalog names the database folds differently from Python: still one author, one subject."""

from __future__ import annotations

import httpx

from tests.catalog_helpers import auth, create_book


async def test_accented_capitals_in_authors_and_subjects_are_stored(
        http: httpx.AsyncClient, unique: str) -> None:
    """A book by "Émile Zola{unique}" about "Économie{unique}" is created (not a 500, which
    it was when Python's lower() and PostgreSQL's disagreed), and a second book naming the
    same author in other case reuses that author."""
    first = await create_book(http, title=f"Au Bonheur {unique}", authors=[f"Émile Zola{unique}"],
                              subjects=[f"Économie{unique}", f"ÉCONOMIE{unique}x"])
    assert first["authors"][0]["name"] == f"Émile Zola{unique}"
    assert sorted(first["subjects"]) == sorted([f"Économie{unique}", f"ÉCONOMIE{unique}x"])
    second = await create_book(http, title=f"Germinal {unique}",
                               authors=[f"Émile Zola{unique}"])
    assert second["authors"][0]["id"] == first["authors"][0]["id"]
    r = await http.get(f"/api/v1/books/{second['id']}", headers=auth("reader"))
    assert r.status_code == 200 and r.json()["authors"][0]["name"] == f"Émile Zola{unique}"
