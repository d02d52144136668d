"""The record contract of svmon: typed records, their validation, and their JSON Schema."""
