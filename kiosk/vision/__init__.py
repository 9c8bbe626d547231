"""On-device vision: frame assessment, page geometry and dewarp, blank sides, sticky notes, OCR."""
