"""The order API: orders, stock by store, returns, notifications and API keys, on the application database."""
