"""Device drivers: pure protocol parsers (sans-IO) and async sessions around them."""
