"""Public dashboards: links, the no-login query and subscription, and the page that shows them."""
