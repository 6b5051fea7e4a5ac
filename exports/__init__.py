"""The CSV export door: streamed downloads of the lead and call lists, with the lists' filters and scoping."""
