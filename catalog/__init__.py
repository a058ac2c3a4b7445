"""The shop's data and intelligence: products, search, customers, orders. Knows nothing of Rasa."""
