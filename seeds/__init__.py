"""Reference data (departments, divisions) and the demo scenario generator."""
