"""Tests of public dashboards: links, the no-login query and subscription, the page in Chromium."""
