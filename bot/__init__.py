"""The gateway: starts and bridges the running processes (Rasa, actions; later socket.io + widget)."""
