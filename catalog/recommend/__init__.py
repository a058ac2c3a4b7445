"""Recommendations: models on plain item ids (``algorithms``, scored on a public retail log too) and
the shop's recommender that turns them into products with the reason the bot says (``shop``)."""
