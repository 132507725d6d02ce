"""The application package: settings, domain, services, ports and adapters."""
