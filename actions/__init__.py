"""Rasa SDK custom actions: thin glue between the dialogue and catalog/."""
