"""Custom NLU components and NLU data tooling for Shopkeeper's Rasa pipeline."""
