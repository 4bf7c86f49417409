"""Small utilities shared by the cli and the datamodules (no models here)."""
