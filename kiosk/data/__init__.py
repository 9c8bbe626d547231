"""Package data: message catalogue, procedure catalogue, sample pages, fonts, models."""
