"""Pure domain core: applicant identifiers, MRZ, procedure catalogue, dossier model, session state machine."""
