"""sitescout: survey and monitor the cameras and networks of many small sites."""

__version__ = "0.1.0"
