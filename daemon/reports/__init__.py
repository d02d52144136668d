"""Reading the store for people: period reports, entity lists and notices, and their renderers."""
