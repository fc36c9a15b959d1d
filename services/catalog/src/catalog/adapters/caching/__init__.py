"""Catalog's read caches on the chassis' layered cache (shared.caching), and their invalidation.

What is cached, and for how long (defaults; ``ORDO_CACHE__*`` settings):

- **Products by id** (``GET /products/{id}``): 60 s, absence 5 s. A product changes rarely
  (price, and its version on stock changes) and every change invalidates it; the price shown
  is not the price charged: a reservation prices its lines from the locked row, never from
  the cache.
- **Stock levels by SKU** (``GET /stock/{sku}``, and the stock half of ``GET /products/{id}``):
  2 s, absence 2 s. Reservations move stock constantly, and "in stock" is what a buyer acts
  on, so the cache only absorbs read bursts on hot SKUs; every reservation, release, commit,
  set or adjustment invalidates it, and the short TTL bounds any missed invalidation.
- **Not cached**: list pages (``GET /products``, ``GET /stock``). Their keys multiply with
  cursors and filters, any change in the org would have to invalidate all of them, and
  ``available_lt`` (low-stock reports) is exactly the data that must not be stale.

Keys are ``<prefix><cache>:v<codec version>:<org_id>:<product id | SKU>`` in Redis, so a
tenant's entries can only answer that tenant (the use cases authorize before reading). After
every commit the unit of work invalidates what its events touched (API and saga consumer
alike); every API instance also follows ``catalog.events`` and invalidates what each event
touches, in-process and in Redis (:func:`touched_by` maps both).
"""
