"""Dossier package: PDF/A per paper, archive metadata, PAdES seal, countersignature, signed manifest."""
