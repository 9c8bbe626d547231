"""Sample photos for the demo's simulated camera."""
