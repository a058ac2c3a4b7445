"""Language helpers shared by the catalogue, the NLU and the speech layer: spoken numbers and email
addresses, word forms, fuzzy and phonetic matching against a vocabulary, and the bundled sentence
encoder's weights. Imports nothing of the project, so every layer may use it."""
