"""The socket.io edge: visitor and counsellor namespaces, schemas, limits, wire hardening."""
