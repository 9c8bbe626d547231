"""Data extraction from captured papers (DESIGN R5, R9).

- ``kiosk.extract.forms``: form definitions (``kiosk/data/forms/*.toml``) and key-value extraction from the
  OCR words of a filled application form, with normalised, validated values and per-field confidences.
- ``kiosk.extract.metadata``: the R9 metadata proposal (paper name, summary, identifier, dates, issuing
  authority) for any OCR'd paper.
- ``kiosk.extract.mrz_photo``: the machine-readable zone read from a photo of an ID card or passport page.
- ``kiosk.extract.papertype``: the on-device paper-kind classifier (LiteRT model in ``kiosk/data/models``).
- ``kiosk.extract.textutil``: fuzzy matching, reading order and value normalisation shared by the above.
"""
