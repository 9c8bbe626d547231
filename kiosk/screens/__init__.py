"""Kivy screens, thin, bound to the citizen-session state machine."""
