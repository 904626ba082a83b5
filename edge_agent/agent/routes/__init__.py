"""One module per endpoint family; each handler is named after its route."""
