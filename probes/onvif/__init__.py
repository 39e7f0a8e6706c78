"""ONVIF probes: WS-Discovery, XAddr choice, safe SOAP/XML parsing, device interrogation and its records."""
