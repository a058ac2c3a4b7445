"""The demo shop: products generated from ``taxonomy.yml`` (``products``), its customers, orders and
returns (``orders``), and its store policies (``policies.yml``)."""
